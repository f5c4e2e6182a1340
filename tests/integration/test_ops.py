"""Operations commands (issue 10 item 5): quarantine list|show|export|drop,
warnings, prune --before DATE [--reports], backup PATH, through the binary.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
import testdb  # noqa: E402
import tap  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
ROOT = os.environ.get("TRPT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))


def cli(db, *args):
    r = subprocess.run([BINARY, "--db", db] + list(args),
                       capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode(errors="replace"), \
        r.stderr.decode(errors="replace"), r.stdout


def main():
    if not BINARY:
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db = testdb.new(tmp, "t")
        bad = os.path.join(tmp, "bad")
        os.mkdir(bad)
        # A name with an escape sequence: it shows in the source.
        hostile = b'{"organization-name": "evil", "report-id": 7}'
        with open(os.path.join(bad, "\x1b[2Jhostile.json"), "wb") as f:
            f.write(hostile)
        with open(os.path.join(bad, "notjson.json"), "wb") as f:
            f.write(b"not json at all\n")
        rc, out, err, _ = cli(db, "ingest", os.path.join(ROOT, "examples",
                                                         "reports"),
                              os.path.join(ROOT, "examples", "mail"), bad)
        tap.equal(rc, 1, "ingest stores the examples and rejects two")

        rc, out, err, _ = cli(db, "quarantine", "list")
        lines = out.splitlines()
        tap.ok(rc == 0 and len(lines) == 2, "quarantine list: one line per "
               "refused input", out + err)
        tap.ok("\x1b" not in out and "\\x1b" in out,
               "control characters from a report are escaped", out)
        ids = [int(x.split()[0]) for x in lines]
        which = {("hostile" in x): int(x.split()[0]) for x in lines}
        hid = which.get(True)
        rc, out, err, _ = cli(db, "quarantine", "show", str(hid))
        tap.ok(rc == 0 and "reason:" in out and "hostile.json" in out,
               "quarantine show: source and reason", out + err)
        rc, out, err, raw = cli(db, "quarantine", "export", str(hid))
        tap.equal(raw, hostile, "quarantine export: the bytes as received")
        path = os.path.join(tmp, "export.bin")
        rc, out, err, _ = cli(db, "quarantine", "export", str(hid), "-o",
                              path)
        with open(path, "rb") as f:
            tap.equal(f.read(), hostile, "quarantine export -o FILE")
        rc, out, err, _ = cli(db, "quarantine", "export", str(hid), "-o",
                              path)
        tap.equal(rc, 3, "export -o refuses to overwrite a file")
        rc, out, err, _ = cli(db, "quarantine", "drop", str(hid))
        tap.equal(rc, 0, "quarantine drop")
        rc, out, err, _ = cli(db, "quarantine", "list")
        tap.equal([int(x.split()[0]) for x in out.splitlines()],
                  [i for i in ids if i != hid], "the dropped input is gone")
        rc, out, err, _ = cli(db, "quarantine", "show", str(hid))
        tap.ok(rc == 1 and "no input %d" % hid in err,
               "show of a dropped ID: exit 1, a clear message", err)
        rc, out, err, _ = cli(db, "quarantine", "show", "x")
        tap.equal(rc, 2, "a bad ID is a usage error")

        rc, out, err, _ = cli(db, "warnings")
        tap.ok(rc == 0 and "Microsoft Corporation" in out and
               "policy-string" in out, "warnings: stored leniencies with "
               "their report", out + err)

        # Backup: a complete, private copy; never over an existing file.
        # SQLite only: a copy of the database file (PostgreSQL has
        # pg_dump and its base backups).
        if not testdb.PG:
            bk = os.path.join(tmp, "backup.db")
            rc, out, err, _ = cli(db, "backup", bk)
            tap.equal(rc, 0, "backup PATH")
            tap.equal(os.stat(bk).st_mode & 0o777, 0o600,
                      "the backup is 0600")
            tap.equal(cli(bk, "stats")[1], cli(db, "stats")[1],
                      "the backup holds the same data")
            rc, out, err, _ = cli(db, "backup", bk)
            tap.ok(rc == 2 and "exists" in err, "backup refuses an existing "
                   "file", err)
        else:
            bk = os.path.join(tmp, "backup.db")
            rc, out, err, _ = cli(db, "backup", bk)
            tap.ok(rc == 2 and "pg_dump" in err and not os.path.exists(bk),
                   "backup of a PostgreSQL database: refused, naming pg_dump,"
                   " no file written", (rc, err))

        # Prune: trends (rollups) stay, reports and bytes go.
        before = cli(db, "trends", "--since", "2026-11-01", "--format",
                     "json")[1]
        size0 = os.path.getsize(db) if not testdb.PG else 0
        rc, out, err, _ = cli(db, "prune", "--before", "2026-11-21T12:00:00Z",
                              "--reports")
        tap.ok(rc == 0 and "1 reports" in out, "prune --reports drops the "
               "report of 2026-11-20", out + err)
        rc, out, err, _ = cli(db, "prune", "--before", "2099-01-01")
        tap.ok(rc == 0 and "raw bytes of 3 inputs" in out,
               "prune drops the bytes of the rest", out + err)
        after = cli(db, "trends", "--since", "2026-11-01", "--format",
                    "json")[1]
        tap.ok(json.loads(before) == json.loads(after) and
               len(json.loads(after)) > 0, "trends are unchanged (rollups "
               "kept)", before + "\n" + after)
        con = testdb.connect(db)
        n, nbytes = con.execute("SELECT count(*), coalesce(sum(length("
                                "bytes)), 0) FROM raw_inputs").fetchone()
        nrep = con.execute("SELECT count(*) FROM reports").fetchone()[0]
        con.close()
        tap.equal((nrep, nbytes), (3, 0), "3 reports left, no raw bytes")
        if not testdb.PG:  # the SQLite file is vacuumed
            tap.ok(os.path.getsize(db) < size0, "the file shrank (%d -> %d "
                   "bytes)" % (size0, os.path.getsize(db)))
        else:
            tap.skip("the file shrank", "SQLite-only: the size of the "
                     "database file (PostgreSQL's autovacuum reclaims the "
                     "space)")
        rc, out, err, _ = cli(db, "prune")
        tap.equal(rc, 2, "prune without --before is a usage error")

        # db = PATH in the configuration (issue 10 item 4); without it
        # and without --db or $TLSRPT_DB, the state directory, never a
        # database in the current directory.
        conf = os.path.join(tmp, "c.conf")
        other = testdb.new(tmp, "other")
        with open(conf, "w") as f:
            f.write("db = %s\n" % other)
        os.chmod(conf, 0o600)
        env = dict(os.environ)
        env.pop("TLSRPT_DB", None)
        r = subprocess.run([BINARY, "--config", conf, "ingest",
                            os.path.join(ROOT, "examples", "reports")],
                           capture_output=True, env=env, cwd=tmp)
        tap.ok(r.returncode == 0 and testdb.count(other, "reports") > 0,
               "db = PATH in the configuration names the database",
               r.stderr)
        empty = os.path.join(tmp, "empty.conf")
        with open(empty, "w") as f:
            f.write("")
        os.chmod(empty, 0o600)
        r = subprocess.run([BINARY, "--config", empty, "--help"],
                           capture_output=True, env=env, cwd=tmp, text=True)
        default = [w for w in r.stdout.split() if w.endswith("tlsrpt.db)")]
        tap.ok(default and default[0].startswith("/") and
               "tlsrpt-collector/" in default[0],
               "the default database is in the state directory",
               r.stdout)
        if default and not os.path.exists(os.path.dirname(default[0])):
            r = subprocess.run([BINARY, "--config", empty, "stats"],
                               capture_output=True, env=env, cwd=tmp,
                               text=True)
            tap.ok(r.returncode == 2 and default[0][:-1] in r.stderr and
                   not os.path.exists(os.path.join(tmp, "tlsrpt.db")),
                   "without one, stats names that path and creates nothing "
                   "here", r.stderr)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
