#!/usr/bin/env python3
"""Concurrent writers on one database (TAP output).

Two `tlsrpt-collector ingest` processes (overlapping corpora: the shared
reports must come out as duplicates, never twice) and `serve`, receiving
POSTs from four client threads at the same time, all write one SQLite
database.  Checks that no "database is locked/busy" error reaches a user (stderr of
ingest and serve), that each ingest exits 0, that every POST is stored (a
503, serve's "try again" after its busy timeout, is retried as senders
do, and must stay rare), and that every distinct report is stored exactly
once.
"""

import glob
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "helpers"))
import serveproc  # noqa: E402
import testdb  # noqa: E402
from corpusdb import GEN, generate, one  # noqa: E402
from tap import done, equal, ok, skip  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")


def post(conn, port, body):
    """One POST; returns (connection to use next, status)."""
    try:
        conn.request("POST", "/", body=body, headers={
            "Content-Type": "application/tlsrpt+gzip"})
        r = conn.getresponse()
        r.read()
        if r.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        return conn, r.status
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        return (http.client.HTTPConnection("127.0.0.1", port, timeout=30),
                repr(e))


def poster(port, files, statuses, lock, retried):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        for _ in range(5):
            conn, status = post(conn, port, body)
            if status != 503:
                break
            # As a sender does (RFC 8460 5.4): a 503 is "try again".
            with lock:
                retried.append(path)
            time.sleep(0.2)
        with lock:
            statuses.append(status)
    conn.close()


def main():
    if not BINARY or not GEN:
        print("1..0 # SKIP TRPT_BINARY and TRPT_GEN_CORPUS are needed")
        return 1
    tmp = tempfile.mkdtemp(prefix="trpt-conc-")
    try:
        return run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    # A: reports 0..2999 (and 300 e-mails), B: 2000..4999 (1,000 shared
    # with A), C: 10000..11199 posted to serve.
    a = generate(os.path.join(tmp, "a"), "--seed", "3", "--first", "0",
                 "--small", "3000", "--eml", "300")
    b = generate(os.path.join(tmp, "b"), "--seed", "3", "--first", "2000",
                 "--small", "3000")
    c = generate(os.path.join(tmp, "c"), "--seed", "3", "--first", "10000",
                 "--small", "1200")
    # A's e-mails are reports 3000..3299, which B also holds as files.
    distinct = 5000 + c["reports"]
    db = testdb.new(tmp, "shared")

    srv = serveproc.start(tmp, "serve", db, serveproc.config(
        tmp, "serve", "[serve]\nrate_limit = 0\n"), timeout=15)
    port = srv.port
    files = sorted(glob.glob(os.path.join(tmp, "c", "*.json.gz")))
    statuses = []
    retried = []
    lock = threading.Lock()
    threads = [threading.Thread(target=poster,
                                args=(port, files[i::4], statuses, lock,
                                      retried))
               for i in range(4)]
    procs = []
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for d in ("a", "b"):
        procs.append(subprocess.Popen(
            [BINARY, "--db", db, "ingest", os.path.join(tmp, d)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True))
    outs = [p.communicate(timeout=150) for p in procs]
    for t in threads:
        t.join(150)
    elapsed = time.monotonic() - t0
    _, serve_log = srv.stop(30)

    for name, p, (out, err) in zip("ab", procs, outs):
        equal(p.returncode, 0, "ingest %s exits 0" % name)
        ok("locked" not in err and "busy" not in err,
           "ingest %s: no database busy/locked error" % name, err[-2000:])
    summed = 0
    for out, _ in outs:
        m = re.search(r"ingested (\d+), duplicates (\d+), rejected (\d+)",
                      out)
        if ok(m is not None, "ingest prints its summary", out):
            summed += int(m.group(1))
    equal(len(statuses), len(files), "every POST was answered")
    bad = [s for s in statuses if s != 200]
    ok(not bad, "every POST got 200 in the end (a 503 is retried, as "
       "senders do)", "%d not 200: %r" % (len(bad), sorted(set(map(str, bad)))))
    ok(len(retried) <= len(files) // 100,
       "at most 1%% of the POSTs had to be retried",
       "%d retried" % len(retried))
    print("# %d of %d POSTs answered 503 once and retried"
          % (len(retried), len(files)))
    ok("locked" not in serve_log and "busy" not in serve_log,
       "serve logged no database busy/locked error", serve_log[-2000:])
    equal(one(db, "SELECT count(*) FROM reports"), distinct,
          "every distinct report is stored")
    equal(summed, 5000, "the two ingests stored the 5,000 distinct reports"
          " between them, the shared ones once")
    equal(one(db, "SELECT sum(seen_count) FROM reports"),
          a["reports"] + b["reports"] + c["reports"],
          "every report received was counted (duplicates included)")
    equal(one(db, "SELECT count(*) FROM policies"),
          one(db, "SELECT count(*) FROM policies p JOIN reports r"
              " ON r.id = p.report"), "no stray policy rows")
    if not testdb.PG:  # the SQLite file's own check
        equal(one(db, "PRAGMA integrity_check"), "ok",
              "integrity_check passes")
    else:
        skip("integrity_check passes", "SQLite-only: PRAGMA integrity_check reads the SQLite file (PostgreSQL checks its pages itself)")
    print("# %d reports from 3 writers in %.1f s" % (distinct, elapsed))
    return done()


if __name__ == "__main__":
    sys.exit(main())
