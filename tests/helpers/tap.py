"""TAP output shared by the Python integration tests.

ok() and equal() print one numbered line each (with the diagnostics of a
failure as comments); done() prints the plan and returns the exit status.
"""
import sys

_count = 0
_failed = 0


def ok(cond, desc, diag=None):
    global _count, _failed
    _count += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", _count, desc))
    if not cond:
        _failed += 1
        if diag is not None:
            for line in str(diag).splitlines() or [""]:
                print("#   %s" % line)
    sys.stdout.flush()
    return cond


def equal(got, want, desc):
    return ok(got == want, desc, "got %r, want %r" % (got, want))


def skip(desc, reason):
    """A check that does not apply here, said as TAP's SKIP with the
    reason (e.g. a SQLite-only property in the run against PostgreSQL)."""
    global _count
    _count += 1
    print("ok %d - %s # SKIP %s" % (_count, desc, reason))
    sys.stdout.flush()


def done():
    print("1..%d" % _count)
    return 1 if _failed else 0
