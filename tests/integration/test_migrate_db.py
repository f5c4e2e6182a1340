"""migrate-db (issue 14 item 5): a SQLite database copied into an empty
database gives the same exports (CSV, byte for byte), refuses a target
that is not empty, and leaves the target's ids continuing after the copied
ones (a report ingested afterwards is stored).

  test_migrate_db.py sqlite   into a second SQLite file (always runs)
  test_migrate_db.py pg       into PostgreSQL: run through
                              tools/pgcluster.sh run (TRPT_PG_URI ...)
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
import tap  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
ROOT = os.environ.get("TRPT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.environ.get("TRPT_FIXTURES",
                          os.path.join(ROOT, "tests", "fixtures"))
CORPUS = os.environ.get("TRPT_CORPUS",
                        os.path.join(ROOT, "..", "shared", "corpus"))
EXPORTS = ["policies", "failures", "reports", "daily"]


def cli(db, *args):
    r = subprocess.run([BINARY, "--db", db] + list(args),
                       capture_output=True, timeout=300)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def psql(uri, *sql):
    args = [os.path.join(os.environ["TRPT_PG_BIN"], "psql"), "-X", "-q",
            "-v", "ON_ERROR_STOP=1", "-At", "-d", uri]
    for s in sql:
        args += ["-c", s]
    r = subprocess.run(args, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode(errors="replace"))
    return r.stdout.decode()


def new_target(mode, tmp, name):
    """A fresh, empty target database."""
    if mode == "sqlite":
        return os.path.join(tmp, name + ".db")
    base = os.environ["TRPT_PG_URI"]
    psql(base, "DROP DATABASE IF EXISTS " + name, "CREATE DATABASE " + name)
    return base.rsplit("/", 1)[0] + "/" + name


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    if not BINARY:
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    if mode == "pg" and not os.environ.get("TRPT_PG_URI"):
        print("1..0 # SKIP TRPT_PG_URI not set (run through "
              "tools/pgcluster.sh run)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src.db")
        inputs = [os.path.join(FIXTURES, "bad"),
                  os.path.join(FIXTURES, "mail"),
                  os.path.join(ROOT, "examples", "reports")]
        if os.path.isdir(CORPUS):
            inputs.append(CORPUS)
        rc, out, err = cli(src, "ingest", *inputs)
        tap.ok(rc in (0, 1), "the source is filled", err)
        rc, out, err = cli(src, "stats")
        tap.ok(rc == 0, "stats on the source", err)

        dst = new_target(mode, tmp, "migrated")
        rc, out, err = cli(src, "migrate-db", "--from", src, "--to", dst)
        text = out.decode()
        tap.ok(rc == 0, "migrate-db exits 0", err)
        tap.ok("reports" in text and "raw_inputs" in text and
               "quarantine_parts" in text and "copied" in text,
               "it lists the tables copied", text)

        for what in EXPORTS:
            rc1, a, err1 = cli(src, "export", what)
            rc2, b, err2 = cli(dst, "export", what)
            tap.ok(rc1 == 0 and rc2 == 0 and a == b and len(a) > 100,
                   "export %s: identical from both databases (%d bytes)"
                   % (what, len(a)), err1 + err2 +
                   "\n".join(x for x in
                             set(a.decode(errors="replace").splitlines()) ^
                             set(b.decode(errors="replace").splitlines())))
        rc1, a, err1 = cli(src, "quarantine", "list")
        rc2, b, err2 = cli(dst, "quarantine", "list")
        tap.ok(rc1 == 0 and rc2 == 0 and a == b and a.count(b"\n") > 5,
               "quarantine list: identical", err1 + err2)

        # Not empty now: refused, nothing written.
        rc, out, err = cli(src, "migrate-db", "--from", src, "--to", dst)
        tap.ok(rc == 2 and "not empty" in err,
               "a second migrate-db into it is refused", err)

        # New rows get ids after the copied ones.
        extra = os.path.join(tmp, "extra.json")
        with open(os.path.join(ROOT, "examples", "reports",
                               sorted(os.listdir(os.path.join(
                                   ROOT, "examples", "reports")))[0]),
                  "rb") as f:
            body = f.read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        doc = json.loads(body)
        doc["report-id"] = "migrate-db-after-copy"
        with open(extra, "w") as f:
            json.dump(doc, f)
        rc, out, err = cli(dst, "ingest", extra)
        tap.ok(rc == 0, "a report ingested after the copy is stored", err)
        rc, a, err = cli(dst, "export", "reports")
        tap.ok(b"migrate-db-after-copy" in a,
               "and exported with the copied ones", err)

        # The source must be SQLite and differ from the target.
        rc, out, err = cli(src, "migrate-db", "--from", src, "--to", src)
        tap.ok(rc == 2, "--from and --to the same: refused", err)
        rc, out, err = cli(src, "migrate-db", "--from",
                           os.path.join(tmp, "nosuch.db"), "--to",
                           new_target(mode, tmp, "other"))
        tap.ok(rc == 2 and "no database" in err,
               "a missing source: refused", err)
        if mode == "pg":
            uri = os.environ["TRPT_PG_URI"].replace(
                "trpt@", "trpt:s3cret@")
            rc, out, err = cli(src, "migrate-db", "--from", src, "--to",
                               uri)
            tap.ok(rc == 2 and "s3cret" not in err and
                   "password file" in err,
                   "a password in the URI: refused, never shown", err)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
