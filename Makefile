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

WARN = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wconversion \
	-Wno-sign-conversion -fno-common
DEFS = -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
	-DCHAPAR_SYSCONFDIR='"$(SYSCONFDIR)/chapar"' \
	-DCHAPAR_LOCALSTATEDIR='"$(LOCALSTATEDIR)/chapar"' \
	-DCHAPAR_LIBEXECDIR='"$(LIBEXECDIR)"' \
	-DCHAPAR_VERSION='"$(VERSION)"'
VERSION = 0.1.0

ifeq ($(SANITIZE),1)
OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -DCHAPAR_SANITIZE
SANLDFLAGS = -fsanitize=address,undefined
else
OPT = -O2 -g -D_FORTIFY_SOURCE=2
SANLDFLAGS =
endif
HARDEN = -fstack-protector-strong -fPIE
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS = -std=c11 $(OPT) $(HARDEN) $(WARN) $(DEFS) $(INCLUDES) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(SANLDFLAGS) $(LDFLAGS)
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
PROGS = chapar chapard authd local enqueue qmgr remote smtpd sendmail \
	pop3d echod
chapar_SRC  = $(wildcard admin/*.c)
chapard_SRC = $(wildcard master/*.c)
authd_SRC   = $(wildcard authd/*.c)
local_SRC   = smtpd/local.c smtpd/local_deliver.c smtpd/local_lmtp.c
enqueue_SRC = smtpd/enqueue.c
sendmail_SRC = smtpd/sendmail.c
qmgr_SRC    = $(wildcard smtpd/qmgr*.c)
remote_SRC  = $(wildcard smtpd/remote*.c)
smtpd_SRC   = smtpd/smtpd.c $(wildcard smtpd/smtpd_*.c)
pop3d_SRC   = $(wildcard pop3d/*.c)
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

$(BUILD)/%.o: %.c
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
	$(DEFS) $(INCLUDES) -Wall -Wextra -Werror
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIBOBJ = $(COMMON_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SECONDS ?= 20

$(FUZZ_BUILD)/%.o: %.c
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
	@sh tests/bench/run.sh $(BUILD)

# --- installing ---------------------------------------------------------
install: all
	install -d -m 755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(SYSCONFDIR)/chapar $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BUILD)/bin/chapar $(DESTDIR)$(SBINDIR)/chapar
	install -m 755 $(BUILD)/bin/chapard $(DESTDIR)$(SBINDIR)/chapard
	install -m 755 $(BUILD)/bin/authd $(DESTDIR)$(LIBEXECDIR)/authd
	install -m 755 $(BUILD)/bin/local $(DESTDIR)$(LIBEXECDIR)/local
	install -m 755 $(BUILD)/bin/enqueue $(DESTDIR)$(LIBEXECDIR)/enqueue
	install -m 755 $(BUILD)/bin/qmgr $(DESTDIR)$(LIBEXECDIR)/qmgr
	install -m 755 $(BUILD)/bin/remote $(DESTDIR)$(LIBEXECDIR)/remote
	install -m 755 $(BUILD)/bin/smtpd $(DESTDIR)$(LIBEXECDIR)/smtpd
	install -m 755 $(BUILD)/bin/pop3d $(DESTDIR)$(LIBEXECDIR)/pop3d
	install -m 755 $(BUILD)/bin/sendmail $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf sendmail $(DESTDIR)$(SBINDIR)/mailq
	@# set-group-id chapar, so that users reach enqueue's socket; the
	@# group exists after "chapar init" or the first start of chapard
	@if getent group chapar >/dev/null; then \
		chgrp chapar $(DESTDIR)$(SBINDIR)/sendmail && \
		chmod 2755 $(DESTDIR)$(SBINDIR)/sendmail; \
	else echo "note: no group chapar yet; after chapar init run:" \
		"chgrp chapar $(SBINDIR)/sendmail;" \
		"chmod 2755 $(SBINDIR)/sendmail"; fi
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf build

.PHONY: all deps run check fuzz fuzz-build bench install clean
