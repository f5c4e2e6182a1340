"""migrate-db (issue 14 item 5): a SQLite database copied into an empty
database gives the same exports (CSV, byte for byte), refuses a target
that is not empty, and leaves the target's ids continuing after the copied
ones (a report ingested afterwards is stored).

The PostgreSQL target is created with a locale that orders text unlike
SQLite (ICU "en": case and punctuation weigh less than letters), and the
source holds reports that begin at the same second from senders, with
report-ids and policy domains, whose order differs between that locale and
byte order: every export (all kinds, and one filtered by a policy domain
in another case), the quarantine list and stats must still be the same
bytes from both databases (PostgreSQL's text columns are COLLATE "C",
schema/migrations/pg/0015_text_bytewise.sql; each one is checked).

  test_migrate_db.py sqlite   into a second SQLite file (always runs)
  test_migrate_db.py pg       into PostgreSQL: run through
                              tools/pgcluster.sh run (TRPT_PG_URI ...)
"""
import gzip
import json
import os
import sqlite3
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


# CREATE DATABASE options for a locale that does not order text by bytes,
# the first the server accepts (ICU needs PostgreSQL 15; en_US.UTF-8 is
# there when the system has that locale).
LOCALES = [
    ("ICU en", "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
     "ICU_LOCALE 'en' LOCALE 'C.UTF-8'"),
    ("en_US.UTF-8", "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE "
     "'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'"),
]


def new_target(mode, tmp, name):
    """A fresh, empty target database (PostgreSQL: in a locale that orders
    text unlike bytes, where the server has one)."""
    if mode == "sqlite":
        return os.path.join(tmp, name + ".db")
    base = os.environ["TRPT_PG_URI"]
    psql(base, "DROP DATABASE IF EXISTS " + name)
    for what, opts in LOCALES:
        try:
            psql(base, "CREATE DATABASE %s %s" % (name, opts))
            print("# target %s created with locale %s" % (name, what))
            break
        except RuntimeError as e:
            print("# no locale %s on this server: %s" % (what, e))
    else:
        psql(base, "CREATE DATABASE " + name)
        print("# target %s in the server's default locale (the order "
              "checks below are weaker)" % name)
    return base.rsplit("/", 1)[0] + "/" + name


# Senders, report-ids and policy domains whose order in a locale (case,
# punctuation and accents weighed less) differs from byte order.
ORGS = ["beta-mail", "Beta Mail", "betamail", "_relay", "Zeta", "alpha"]
DOMAINS = ["b.example", "B-c.example", "bc.example", "\u00e9t\u00e9.example",
           "f.example"]


def collation_reports(folder):
    """Reports that begin at the same second, one per sender, each with
    every policy domain and failure details on MX names of mixed case."""
    os.mkdir(folder)
    for i, org in enumerate(ORGS):
        policies = []
        for j, dom in enumerate(DOMAINS):
            policies.append({
                "policy": {"policy-type": "sts", "policy-domain": dom,
                           "policy-string": ["version: STSv1",
                                             "mode: enforce",
                                             "mx: Mx-%d.%s" % (j, dom)],
                           "mx-host": ["mx%d.%s" % (j, dom)]},
                "summary": {"total-successful-session-count": 10 + i + j,
                            "total-failure-session-count": 2},
                "failure-details": [
                    {"result-type": rt, "sending-mta-ip": "192.0.2.%d" % k,
                     "receiving-mx-hostname": mx % dom,
                     "failed-session-count": 1}
                    for k, (rt, mx) in enumerate([
                        ("certificate-expired", "MX.%s"),
                        ("starttls-not-supported", "mx.%s")])]})
        doc = {"organization-name": org,
               "date-range": {"start-datetime": "2024-07-01T00:00:00Z",
                              "end-datetime": "2024-07-01T23:59:59Z"},
               "contact-info": "tlsrpt@%s" % DOMAINS[i % len(DOMAINS)],
               "report-id": ["Id-%d", "id-%d", "id_%d"][i % 3] % i,
               "policies": policies}
        with open(os.path.join(folder, "collate-%d.json" % i), "w") as f:
            json.dump(doc, f, ensure_ascii=False)


def text_collations(dst):
    """PostgreSQL: the collation of every text column not in "C"."""
    return psql(dst, "SELECT table_name || '.' || column_name || ' ' || "
                "coalesce(collation_name, 'default') FROM "
                "information_schema.columns WHERE table_schema = "
                "current_schema() AND data_type = 'text' AND "
                "collation_name IS DISTINCT FROM 'C' ORDER BY 1").split("\n")


def same_tables(src, dst):
    """Every table's rows, value for value, in SQLite and PostgreSQL."""
    con = sqlite3.connect(src)
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND "
        "name NOT LIKE 'sqlite%' ORDER BY name")]
    total = 0
    for t in tables:
        cols = [r[1] for r in con.execute(
            "SELECT * FROM pragma_table_info(?)", (t,))]
        qcols = ", ".join('"%s"' % c for c in cols)

        def norm(v):
            if isinstance(v, bytes):
                return "\\x" + v.hex()
            return v
        want = sorted((tuple(norm(v) for v in row) for row in con.execute(
            "SELECT %s FROM \"%s\"" % (qcols, t))), key=repr)
        got = json.loads(psql(dst, "SELECT COALESCE(json_agg("
                              "json_build_array(%s)), '[]') FROM \"%s\""
                              % (qcols, t)))
        got = sorted((tuple(r) for r in got), key=repr)
        total += len(want)
        tap.ok(got == want, "table %s: the same %d rows in PostgreSQL"
               % (t, len(want)), "got %r...\nwant %r..." % (
                   got[:2], want[:2]))
    # The same tables, columns and named indexes in both schemas.
    pg_tables = psql(dst, "SELECT table_name FROM information_schema.tables "
                     "WHERE table_schema = current_schema() AND table_type "
                     "= 'BASE TABLE' AND table_name <> 'schema_version' "
                     "ORDER BY table_name").split()
    tap.equal(pg_tables, tables, "the same tables in both schemas")
    for t in tables:
        lite = sorted(r[1] for r in con.execute(
            "SELECT * FROM pragma_table_info(?)", (t,)))
        pgc = sorted(psql(dst, "SELECT column_name FROM "
                          "information_schema.columns WHERE table_schema = "
                          "current_schema() AND table_name = '%s'" % t)
                     .split())
        tap.equal(pgc, lite, "table %s: the same columns" % t)
    lite = sorted(r[0] for r in con.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS "
        "NOT NULL"))
    pgi = sorted(psql(dst, "SELECT indexname FROM pg_indexes i WHERE "
                      "schemaname = current_schema() AND NOT EXISTS (SELECT "
                      "1 FROM pg_constraint c WHERE c.conname = "
                      "i.indexname)").split())
    tap.equal(pgi, lite, "the same named indexes")
    con.close()
    tap.ok(total > 100, "%d rows compared" % total)


def first_diff(a, b):
    """The first lines where a and b differ, for the diagnostics."""
    la = a.decode(errors="replace").splitlines()
    lb = b.decode(errors="replace").splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return "line %d:\n  %s\n  %s" % (i + 1, x, y)
    return "lengths %d and %d lines" % (len(la), len(lb))


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
        collation_reports(os.path.join(tmp, "collate"))
        inputs = [os.path.join(FIXTURES, "bad"),
                  os.path.join(FIXTURES, "mail"),
                  os.path.join(ROOT, "examples", "reports"),
                  os.path.join(tmp, "collate")]
        if os.path.isdir(CORPUS):
            inputs.append(CORPUS)
        rc, out, err = cli(src, "ingest", *inputs)
        tap.ok(rc in (0, 1), "the source is filled", err)
        rc, out, err = cli(src, "stats")
        tap.ok(rc == 0, "stats on the source", err)
        rc, out, err = cli(src, "trends")
        tap.ok(rc == 0, "trends on the source (rollups filled)", err)

        dst = new_target(mode, tmp, "migrated")
        rc, out, err = cli(src, "migrate-db", "--from", src, "--to", dst)
        text = out.decode()
        tap.ok(rc == 0, "migrate-db exits 0", err)
        tap.ok("reports" in text and "raw_inputs" in text and
               "quarantine_parts" in text and "copied" in text,
               "it lists the tables copied", text)

        if mode == "pg":
            same_tables(src, dst)
            tap.equal([x for x in text_collations(dst) if x], [],
                      "every text column of PostgreSQL's schema is "
                      "COLLATE \"C\" (byte order, as SQLite's)")
        for what in EXPORTS + ["policies --domain B.EXAMPLE",
                               "failures --domain \u00e9t\u00e9.example"]:
            rc1, a, err1 = cli(src, "export", *what.split())
            rc2, b, err2 = cli(dst, "export", *what.split())
            tap.ok(rc1 == 0 and rc2 == 0 and a == b and len(a) > 100,
                   "export %s: identical from both databases (%d bytes)"
                   % (what, len(a)), err1 + err2 + "\n" + first_diff(a, b))
        for what in (["quarantine", "list"], ["stats"]):
            rc1, a, err1 = cli(src, *what)
            rc2, b, err2 = cli(dst, *what)
            tap.ok(rc1 == 0 and rc2 == 0 and a == b and
                   a.count(b"\n") > 5, "%s: identical" % " ".join(what),
                   err1 + err2 + "\n" + first_diff(a, b))

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
        if mode == "sqlite":
            rc, out, err = cli(dst, "ingest", extra)
            tap.ok(rc == 0, "a report ingested after the copy is stored",
                   err)
            rc, a, err = cli(dst, "export", "reports")
            tap.ok(b"migrate-db-after-copy" in a,
                   "and exported with the copied ones", err)
        else:
            # Each identity continues after the highest id copied.
            for t in ("raw_inputs", "quarantine_inputs", "quarantine_parts"):
                old = int(psql(dst, "SELECT max(id) FROM %s" % t))
                cols = {"raw_inputs": "sha256, bytes, size, source_kind, "
                        "source, received_at) VALUES ('x', '', 0, 'f', "
                        "'f', 0",
                        "quarantine_inputs": "sha256, bytes, size) "
                        "VALUES ('x', '', 0",
                        "quarantine_parts": "input, part, source_kind, "
                        "source, reason, received_at, last_seen_at) "
                        "VALUES (1, 99, 'f', 'f', 'r', 0, 0"}[t]
                new = int(psql(dst, "INSERT INTO %s (%s) RETURNING id"
                               % (t, cols)).split()[0])
                tap.ok(new > old, "%s: a new row's id %d follows the "
                       "copied %d" % (t, new, old))

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
