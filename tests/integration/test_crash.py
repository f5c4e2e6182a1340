#!/usr/bin/env python3
"""Crash safety of `tlsrpt-collector ingest` (TAP output).

Generates a large batch with bench/gen_corpus (small .json.gz reports,
report e-mails, a few multi-MB reports and inputs that must be rejected),
kills `ingest` with SIGKILL at varied points of the run, several times,
then lets it run to completion, and checks against the database that every
report is stored exactly once with all its policies and failure details,
that every rejected input is in quarantine, and that PRAGMA
integrity_check and foreign_key_check pass.
"""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "helpers"))
import testdb  # noqa: E402
from corpusdb import GEN, generate, one, query  # noqa: E402
from tap import done, equal, ok, skip  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")


def ingest_cmd(db, corpus):
    return [BINARY, "--db", db, "-q", "ingest", corpus]


def stored(db):
    """Committed reports, read while ingest may be writing (WAL)."""
    if testdb.PG:
        try:
            return testdb.count(db, "reports")
        except Exception:
            return 0  # not migrated yet
    if not os.path.exists(db):
        return 0
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        try:
            return con.execute("SELECT count(*) FROM reports").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # not created or not migrated yet


def main():
    if not BINARY or not GEN:
        print("1..0 # SKIP TRPT_BINARY and TRPT_GEN_CORPUS are needed")
        return 1
    tmp = tempfile.mkdtemp(prefix="trpt-crash-")
    try:
        return run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    corpus = os.path.join(tmp, "corpus")
    m = generate(corpus, "--seed", "7", "--small", "2500", "--eml", "400",
                 "--large", "2", "--large-bytes", "2000000", "--bad", "40")
    db = testdb.new(tmp, "crash")
    rnd = random.Random(8460)

    # A reference run, never killed.
    ref = testdb.new(tmp, "ref")
    t0 = time.monotonic()
    r = subprocess.run(ingest_cmd(ref, corpus), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    full = time.monotonic() - t0
    equal(r.returncode, 1, "a reference run ends with status 1 (rejects)")
    equal(one(ref, "SELECT count(*) FROM reports"), m["reports"],
          "the reference run stores every generated report")

    # Kill at varied points: right at the start (opening, migrations), then
    # whenever the committed reports reach a point spread over what is
    # left (plus a random few milliseconds, so that kills land inside
    # batches, large reports and checkpoints), whatever the speed of the
    # machine; once everything is stored, at random times of a run that
    # finds duplicates (it still reads, validates and counts them in
    # batches).  A run that ends before its kill is tried again.
    total = m["reports"]
    killed = 0
    attempts = 0
    progress = []
    plan = [("time", 0.01), ("time", 0.05), ("count", 0.1),
            ("count", 0.25), ("count", 0.4), ("count", 0.55),
            ("count", 0.7), ("count", 0.85), ("count", 0.95)]
    while killed < len(plan) and attempts < 2 * len(plan):
        kind, frac = plan[killed]
        attempts += 1
        before = stored(db)
        target = before + max(1, int((total - before) * frac))
        p = subprocess.Popen(ingest_cmd(db, corpus),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if kind == "time":
            time.sleep(frac)
        elif before >= total:
            time.sleep(full * rnd.uniform(0.05, 0.5))
        else:
            while p.poll() is None and stored(db) < target:
                time.sleep(0.005)
            time.sleep(rnd.uniform(0, 0.02))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        progress.append(stored(db))
    ok(killed >= 7, "ingest was killed mid-run at least 7 times",
       "killed %d times in %d runs (a whole run takes %.2f s)"
       % (killed, attempts, full))
    # Batches commit up to 1,000 inputs at a time: on a fast machine
    # there are only a few committed states between none and all.
    ok(len([n for n in progress if 0 < n < total]) >= 1 and
       progress == sorted(progress),
       "the killed runs stored part of the batch, and kept it",
       "reports after each kill: %r of %d" % (progress, total))
    print("# reports committed after each kill: %r of %d" % (progress, total))

    # Integrity right after the last kill, before any recovery run (the
    # SQLite file's own check; PostgreSQL recovers on its own, and the
    # counts below check the rows on both).
    if not testdb.PG:
        equal(query(db, "PRAGMA integrity_check"), [("ok",)],
              "integrity_check passes after the kills")
    else:
        skip("integrity_check passes after the kills", "SQLite-only: PRAGMA integrity_check reads the SQLite file (PostgreSQL checks its pages itself)")

    p = subprocess.run(ingest_cmd(db, corpus), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    equal(p.returncode, 1, "the run to completion ends with status 1")
    ok("locked" not in p.stderr and "busy" not in p.stderr,
       "no database error on the run to completion", p.stderr[-2000:])
    rejected = [ln for ln in p.stderr.splitlines() if ": rejected: " in ln]
    equal(len(rejected), m["bad"], "the bad inputs are rejected again")

    equal(one(db, "SELECT count(*) FROM reports"), m["reports"],
          "every report is stored")
    equal(one(db, "SELECT count(*) FROM (SELECT 1 FROM reports GROUP BY"
              " organization_name, report_id HAVING count(*) > 1) AS twice"), 0,
          "no report is stored twice")
    equal(one(db, "SELECT count(*) FROM policies"), m["policies"],
          "every policy is stored, once")
    equal(one(db, "SELECT count(*) FROM failures"), m["failures"],
          "every failure detail is stored, once")
    equal(one(db, "SELECT count(*) FROM reports r WHERE NOT EXISTS"
              " (SELECT 1 FROM policies p WHERE p.report = r.id)"), 0,
          "no report without its policies (no half-written report)")
    equal(one(db, "SELECT count(*) FROM reports r WHERE total_failed !="
              " (SELECT sum(failed) FROM policies p WHERE p.report = r.id)"),
          0, "every report's totals match its policies")
    equal(one(db, "SELECT count(*) FROM quarantine"), m["bad"],
          "every rejected input is in quarantine")
    equal(one(db, "SELECT count(*) FROM quarantine WHERE reason = ''"), 0,
          "every quarantine entry has its reason")
    equal(one(db, "SELECT count(*) FROM raw_inputs WHERE id NOT IN"
              " (SELECT raw_id FROM reports)"), 0,
          "no raw input without its report")
    if not testdb.PG:  # SQLite's file and deferred-key checks
        equal(query(db, "PRAGMA integrity_check"), [("ok",)],
              "integrity_check passes")
        equal(query(db, "PRAGMA foreign_key_check"), [],
              "foreign_key_check passes")
    else:
        skip("integrity_check passes", "SQLite-only: PRAGMA integrity_check reads the SQLite file (PostgreSQL checks its pages itself)")
        skip("foreign_key_check passes", "SQLite-only: PostgreSQL checks "
             "foreign keys on every statement, it has no deferred check "
             "to run")

    # The same content as a run that was never killed.
    same = ("SELECT organization_name, report_id, total_successful,"
            " total_failed FROM reports ORDER BY 1, 2")
    ok(query(db, same) == query(ref, same),
       "the database holds what an uninterrupted run stores")

    # A run again changes nothing but the duplicate counts.
    p = subprocess.run([BINARY, "--db", db, "ingest", corpus],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True)
    equal(p.stdout.strip(), "ingested 0, duplicates %d, rejected %d"
          % (m["reports"], m["bad"]), "a run again finds only duplicates")
    equal(one(db, "SELECT count(*) FROM reports"), m["reports"],
          "still every report once")

    return done()


if __name__ == "__main__":
    sys.exit(main())
