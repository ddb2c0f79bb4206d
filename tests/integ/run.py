#!/usr/bin/env python3
"""Integration test runner: finds tests/integ/test_*.py, runs every
function named test_* in them, and prints "ok - NAME", "FAIL - NAME" or
"skip - NAME (why)" per test and a final "N passed, N failed".

usage: run.py --build build/cc [substring]
"""
import argparse
import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chapartest  # noqa: E402

TEST_TIMEOUT = 180  # seconds a single test may take before it is failed


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test took longer than %d s" % TEST_TIMEOUT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("filter", nargs="?", default="")
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    signal.signal(signal.SIGALRM, on_alarm)
    passed = failed = 0
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3],
                                                      os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tests = [(n, getattr(mod, n)) for n in dir(mod)
                 if n.startswith("test_") and callable(getattr(mod, n))]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        for name, f in tests:
            full = name[5:]
            if args.filter and args.filter not in full:
                continue
            t0 = time.time()
            signal.alarm(TEST_TIMEOUT)
            bad = False
            try:
                f()
                chapartest.finish()     # stop daemons, check their logs
                signal.alarm(0)
                passed += 1
                print("ok - %s (%.1fs)" % (full, time.time() - t0))
            except chapartest.Skip as e:
                signal.alarm(0)
                print("skip - %s (%s)" % (full, e))
            except KeyboardInterrupt:
                raise
            except BaseException:  # report everything else as a failure
                signal.alarm(0)
                bad = True
                failed += 1
                for line in traceback.format_exc().rstrip().split("\n"):
                    print("#   " + line)
                print("FAIL - %s" % full)
            finally:
                chapartest.cleanup_all(failed_now=bad)
            sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
