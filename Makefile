# Chapar: GNU Makefile.  No autotools: edit the variables below or set them
# on the command line (make PREFIX=/usr SYSCONFDIR=/etc LOCALSTATEDIR=/var).
#
#   make            build everything into $(BUILD)
#   make run        build, create ./run (an instance), start it in the foreground
#   make check      build and run every test; ends with "N passed, N failed"
#   make check SANITIZE=1   the same under AddressSanitizer + UBSan
#   make fuzz       build the libFuzzer targets (clang-14) and run each briefly
#   make bench      benchmarks (never part of check)
#   make install    install under $(DESTDIR)$(PREFIX)

PREFIX        ?= /usr/local
SYSCONFDIR    ?= $(PREFIX)/etc
LOCALSTATEDIR ?= /var
DESTDIR       ?=
SBINDIR       ?= $(PREFIX)/sbin
LIBEXECDIR    ?= $(PREFIX)/libexec/chapar
MANDIR        ?= $(PREFIX)/share/man

CC       ?= cc
SANITIZE ?= 0
ifeq ($(origin CC),default)
CC := cc
endif
CCNAME := $(notdir $(firstword $(CC)))
ifeq ($(SANITIZE),1)
BUILD ?= build/$(CCNAME)-san
else
BUILD ?= build/$(CCNAME)
endif

# Warnings are errors for developers and CI; a packager building with
# another compiler may say "make WERROR=0".
WERROR ?= 1
ifeq ($(WERROR),0)
WERRFLAG =
else
WERRFLAG = -Werror
endif
WARN = -Wall -Wextra $(WERRFLAG) -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wconversion \
	-Wno-sign-conversion -fno-common
# The install paths and the version reach the code through a generated
# header, $(BUILD)/include/chapar/paths.h (see "generated header" below),
# not -D flags: "make; make install PREFIX=/usr" then rebuilds what uses
# them instead of installing programs that look in /usr/local.
DEFS = -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED
VERSION = 0.1.0

ifeq ($(SANITIZE),1)
OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -DCHAPAR_SANITIZE
SANLDFLAGS = -fsanitize=address,undefined
else
OPT = -O2 -g -D_FORTIFY_SOURCE=2
SANLDFLAGS =
endif
# -fstack-clash-protection and -fcf-protection (CET) as Debian's gcc and
# clang-14 take them on x86-64; a compiler or a target without them (gcc
# has no -fcf-protection on arm64) builds without, rather than failing.
# Debian 12's crt1.o is not marked for CET, so the linked programs carry
# no IBT/SHSTK note yet; our objects do, with their endbr64 landing pads.
cc_flag = $(shell $(CC) -Werror $(1) -x c -c -o /dev/null /dev/null \
	>/dev/null 2>&1 && echo $(1))
HARDEN := -fstack-protector-strong -fPIE \
	$(call cc_flag,-fstack-clash-protection) \
	$(call cc_flag,-fcf-protection)
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS = -std=c11 $(OPT) $(HARDEN) $(WARN) $(DEFS) -I$(BUILD)/include \
	$(INCLUDES) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SANLDFLAGS) $(LDFLAGS)
LIBS = -ldb-5.3 -lssl -lcrypto -lcrypt -lidn2 -lunbound

# --- sources -----------------------------------------------------------
# common/ is a stack of libraries, each a directory with its public
# headers in DIR/chapar/ and its own archive.  LAYERS lists, for each, the
# libraries it may use; tools/layers.sh (run by "make check") holds every
# file to it.  Programs link the archives highest first.
LIBDIRS = worker auth queue storage smtp imap mail dns tls dict core
LAYERS_core    =
LAYERS_dict    = core
LAYERS_tls     = core
LAYERS_dns     = core
LAYERS_mail    = core
LAYERS_imap    = core mail
LAYERS_smtp    = core mail
LAYERS_storage = core dict mail imap
LAYERS_queue   = core mail
LAYERS_auth    = core dict mail
LAYERS_worker  = core tls auth queue storage
INCLUDES = $(LIBDIRS:%=-Icommon/%)
LIB_ARCHIVES = $(LIBDIRS:%=$(BUILD)/lib/lib%.a)
LIB_SRC = $(foreach d,$(LIBDIRS),$(wildcard common/$(d)/*.c))
COMMON_SRC = $(LIB_SRC)
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/%.o)

# program name -> its sources
PROGS = chapar chapard authd local enqueue qmgr remote smtpd smtpfront \
	sendmail pop3d pop3d-session echod
chapar_SRC  = $(wildcard admin/*.c)
chapard_SRC = $(wildcard master/*.c)
authd_SRC   = $(wildcard authd/*.c)
local_SRC   = smtpd/local.c smtpd/local_deliver.c smtpd/local_lmtp.c
enqueue_SRC = smtpd/enqueue.c
sendmail_SRC = smtpd/sendmail.c
qmgr_SRC    = $(wildcard smtpd/qmgr*.c)
remote_SRC  = $(wildcard smtpd/remote*.c)
smtpd_SRC   = smtpd/smtpd.c $(wildcard smtpd/smtpd_*.c)
smtpfront_SRC = smtpd/front.c
pop3d_SRC   = pop3d/pop3d.c pop3d/pop3_login.c pop3d/pop3_session.c \
	pop3d/pop3_parse.c pop3d/pop3_reply.c
# the session side alone: no TLS, so it maps none of OpenSSL
pop3d-session_SRC = pop3d/pop3d_session.c pop3d/pop3_session.c \
	pop3d/pop3_parse.c pop3d/pop3_reply.c
# echod: the test fixture service (tests/fixture), never installed
echod_SRC   = tests/fixture/echod.c

# parsers of the programs, tested with the libraries'
UNIT_SRC = $(wildcard tests/unit/*.c) pop3d/pop3_parse.c
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/%.o)

BINS = $(PROGS:%=$(BUILD)/bin/%) $(BUILD)/unit-tests
all: $(BINS)

# V=1 shows the whole command lines.
ifeq ($(V),1)
Q =
say = @true
else
Q = @
say = @echo
endif

# --- generated header ----------------------------------------------------
# paths.h is rewritten only when its text changes: the rule runs every
# time, but a file that stays the same keeps its time, so only a change of
# PREFIX, SYSCONFDIR, ... rebuilds the objects that include it (they
# depend on it through their .d files; the order-only prerequisite below
# makes it exist before the first compile).
PATHS_H = $(BUILD)/include/chapar/paths.h
define gen_paths_h
	@mkdir -p $(@D)
	@printf '%s\n' \
	    '/* Generated by make from its variables; do not edit. */' \
	    '#ifndef CHAPAR_PATHS_H' '#define CHAPAR_PATHS_H' \
	    '#define CHAPAR_SYSCONFDIR "$(SYSCONFDIR)/chapar"' \
	    '#define CHAPAR_LOCALSTATEDIR "$(LOCALSTATEDIR)/chapar"' \
	    '#define CHAPAR_LIBEXECDIR "$(LIBEXECDIR)"' \
	    '#define CHAPAR_SBINDIR "$(SBINDIR)"' \
	    '#define CHAPAR_VERSION "$(VERSION)"' '#endif' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else \
	    mv -f $@.tmp $@; echo "  GEN     $@"; fi
endef
$(PATHS_H): FORCE
	$(gen_paths_h)
FORCE:

$(BUILD)/%.o: %.c | $(PATHS_H)
	@mkdir -p $(@D)
	$(say) "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

define lib_rule
$(BUILD)/lib/lib$(1).a: $$(patsubst %.c,$$(BUILD)/%.o,$$(wildcard common/$(1)/*.c))
	$$(say) "  AR      $$@"
	@mkdir -p $$(@D)
	$$(Q)rm -f $$@
	$$(Q)ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(eval $(call lib_rule,$(d))))

define prog_rule
$(BUILD)/bin/$(1): $$($(1)_SRC:%.c=$$(BUILD)/%.o) $$(LIB_ARCHIVES)
	$$(say) "  LD      $$@"
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(BUILD)/unit-tests: $(UNIT_OBJ) $(LIB_ARCHIVES)
	$(say) "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

-include $(COMMON_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) \
	$(foreach p,$(PROGS),$($(p)_SRC:%.c=$(BUILD)/%.d))

# --- running and testing -----------------------------------------------
deps:
	@sh tools/deps.sh build

# The Debian packages come first: on a fresh machine nothing compiles
# without them.
run:
	@sh tools/deps.sh build
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh $(BUILD)

check:
	@sh tools/deps.sh test
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh tests/run.sh

# libFuzzer targets: always clang-14 with ASan+UBSan, in their own tree.
FUZZ_CC    = clang-14
FUZZ_BUILD = build/fuzz
FUZZ_FLAGS = -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	$(DEFS) -I$(FUZZ_BUILD)/include $(INCLUDES) -Wall -Wextra $(WERRFLAG)
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIBOBJ = $(COMMON_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SECONDS ?= 20

$(FUZZ_BUILD)/include/chapar/paths.h: FORCE
	$(gen_paths_h)
$(FUZZ_BUILD)/%.o: %.c | $(FUZZ_BUILD)/include/chapar/paths.h
	@mkdir -p $(@D)
	$(say) "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/libchapar.a: $(FUZZ_LIBOBJ)
	$(say) "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libchapar.a
	$(say) "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)
# fuzz_lmtp drives smtpd/local_lmtp.c (delivery stubbed in the target)
$(FUZZ_BUILD)/fuzz_lmtp: tests/fuzz/fuzz_lmtp.c $(FUZZ_BUILD)/smtpd/local_lmtp.o \
		$(FUZZ_BUILD)/libchapar.a
	$(say) "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -Ismtpd -fsanitize=fuzzer -o $@ $^ \
		$(LIBS) -lpthread
$(FUZZ_BUILD)/fuzz_pop3: tests/fuzz/fuzz_pop3.c \
		$(FUZZ_BUILD)/pop3d/pop3_parse.o $(FUZZ_BUILD)/libchapar.a
	$(say) "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -Ipop3d -fsanitize=fuzzer -o $@ $^ $(LIBS)
# fuzz_authd drives authd's request handling (hash workers stubbed in the
# target; main.c and worker.c stay out)
FUZZ_AUTHD_OBJ = $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(filter-out \
	authd/main.c authd/worker.c,$(authd_SRC)))
$(FUZZ_BUILD)/fuzz_authd: tests/fuzz/fuzz_authd.c $(FUZZ_AUTHD_OBJ) \
		$(FUZZ_BUILD)/libchapar.a
	$(say) "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -Iauthd -fsanitize=fuzzer -o $@ $^ $(LIBS)
-include $(FUZZ_LIBOBJ:.o=.d) $(FUZZ_BUILD)/smtpd/local_lmtp.d \
	$(FUZZ_BUILD)/pop3d/pop3_parse.d $(FUZZ_AUTHD_OBJ:.o=.d)

fuzz-build: $(FUZZ_BINS)
fuzz:
	@sh tools/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench:
	@sh tools/deps.sh test
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh $(BUILD) $(BENCH_ARGS)

# --- installing ---------------------------------------------------------
# Where each program goes; INSTALL lists the same files and
# tools/install-check.sh holds the two (and PROGS) to each other.  echod is
# the test fixture and is never installed.
SBIN_PROGS    = chapar chapard sendmail
LIBEXEC_PROGS = authd enqueue qmgr remote smtpd smtpfront local pop3d \
	pop3d-session
MANSECTS      = 1 5 7 8

# Nothing here looks up the build host's users or groups: under DESTDIR
# they may not be the target's.  sendmail's group and mode belong to the
# machine it runs on (INSTALL, "Local programs"); only an install onto
# this very machine (no DESTDIR) whose group chapar exists sets them.
install: all
	install -d -m 755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(SYSCONFDIR)/chapar \
		$(MANSECTS:%=$(DESTDIR)$(MANDIR)/man%)
	install -m 755 $(SBIN_PROGS:%=$(BUILD)/bin/%) $(DESTDIR)$(SBINDIR)/
	install -m 755 $(LIBEXEC_PROGS:%=$(BUILD)/bin/%) \
		$(DESTDIR)$(LIBEXECDIR)/
	ln -sf sendmail $(DESTDIR)$(SBINDIR)/mailq
	for n in $(MANSECTS); do \
		install -m 644 man/*.$$n $(DESTDIR)$(MANDIR)/man$$n/ || exit 1; \
	done
	@if [ -z "$(DESTDIR)" ] && getent group chapar >/dev/null; then \
		echo "chgrp chapar $(SBINDIR)/sendmail; chmod 2755" \
		    "$(SBINDIR)/sendmail"; \
		chgrp chapar $(SBINDIR)/sendmail && \
		chmod 2755 $(SBINDIR)/sendmail; \
	else \
		echo; \
		echo "Chapar is installed$(if $(DESTDIR), under $(DESTDIR))."; \
		echo "On the machine it runs on, as root (a package's postinst):"; \
		echo "  $(SBINDIR)/chapar init     # group chapar, accounts," \
		    "$(SYSCONFDIR)/chapar/chapar.conf"; \
		echo "  chgrp chapar $(SBINDIR)/sendmail"; \
		echo "  chmod 2755 $(SBINDIR)/sendmail    # set-group-id:" \
		    "users reach enqueue"; \
		echo "(a Debian package: dpkg-statoverride --update --add" \
		    "root chapar 2755 $(SBINDIR)/sendmail)"; \
	fi

# make print-VAR: a variable's value (tools/install-check.sh asks)
print-%:
	@echo '$($*)'

clean:
	rm -rf build

.PHONY: all deps run check fuzz fuzz-build bench install clean FORCE
