#!/usr/bin/env python3
"""A failed group commit in `serve` fails every POST of the group (TAP).

serve stores POSTs that arrive together in one transaction and answers
each only after that transaction commits (docs/PERFORMANCE.md, "serve:
group commit").  When the transaction fails, every POST stored in it must
get 503 (the sender retries) and none a 2xx, since none of them is in the
database.

The group is made deterministic: the test holds the database's write lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: an EXCLUSIVE lock on raw_inputs), so
the committer waits with the first POST while the others queue behind it;
once all are in, the lock is released and they share one transaction.
serve runs with one libmicrohttpd thread: every POST, and the GETs of
/metrics that count them, must still be received and answered while the
group waits (a POST waiting for its commit suspends its connection instead
of holding the thread).  Faults are injected with triggers made here:

- at commit: the rollups, written when the transaction commits, refuse
  one report's domain.  Every POST of the group must get 503, none is
  stored (no report, raw input or rollup change).
- at store: one report is refused once its raw input is written, which
  rolls the group's transaction back; it is sent last, so the POSTs
  stored before it (at least the first) get 503 with it, those after it
  start a new group.  Every 2xx must be for a stored report, every 503
  for one not stored.

Then the POSTs that failed, sent again, are stored once each, and with
the triggers gone the faulty reports too.  Last, a SIGTERM while a group
waits for the locked database: serve stores it once the lock goes, answers
200 to each POST and exits 0.  And a SIGKILL while 8 clients POST:
every report answered 200 before it is in the database.  And a SIGTERM
while 16 clients POST to one libmicrohttpd thread (a group's answers
handed over to that thread): serve exits 0, every 200 stored.  On
PostgreSQL, a group whose transaction fails on a deadlock (injected) is
run once more: every POST 200.  Runs on SQLite, and on PostgreSQL under
`meson test --setup pg`.
"""

import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import tap  # noqa: E402
import serveproc  # noqa: E402
import testdb  # noqa: E402
from tap import ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
SOURCE_ROOT = os.environ.get("TRPT_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
GROUP = 12  # POSTs in the group (at most 64)
FAULT = "inject-fault"


def report(rid, domain=None):
    path = os.path.join(SOURCE_ROOT, "examples", "reports",
                        "microsoft.com!example.com!1795219200!1795305599!"
                        "134084736000000000.json")
    with open(path, "rb") as f:
        tpl = json.loads(f.read())
    tpl["report-id"] = rid
    if domain is not None:
        for p in tpl["policies"]:
            p["policy"]["policy-domain"] = domain
    return json.dumps(tpl).encode()


class Server:
    def __init__(self, tmp, name="group", threads=1, db=None, extra=""):
        self.db = db or testdb.new(tmp, name)
        # busy_timeout: the first POST waits for the test's lock.
        self.conf = serveproc.config(tmp, name,
                                     "[serve]\nrate_limit = 0\n"
                                     "threads = %d\n"
                                     "max_connections_per_client = 64\n"
                                     "busy_timeout = 60000\n%s"
                                     % (threads, extra))
        self.serve = serveproc.start(tmp, name, self.db, self.conf)
        self.proc = self.serve.proc
        self.port = self.serve.port

    def stop(self):
        return self.serve.stop(30)[0]

    def post(self, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            c.request("POST", "/", body,
                      {"Content-Type": "application/tlsrpt+json"})
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            c.close()

    def in_flight(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        m = re.search(r"^tlsrpt_http_requests_in_flight (\d+)$", text, re.M)
        return int(m.group(1)) if m else -1

    def count(self, table, where="", params=()):
        return testdb.count(self.db, table, where, params)


def sql(db, *stmts):
    con = testdb.connect(db)
    try:
        for st in stmts:
            con.execute(st)
        con.commit()
    finally:
        con.close()


def add_fault(db, name, table, cond_pg, cond_sqlite):
    """A trigger that refuses some inserts into table: the injected fault."""
    if testdb.PG:
        sql(db, "CREATE FUNCTION %s() RETURNS trigger AS $$ BEGIN IF %s"
                " THEN RAISE EXCEPTION 'injected fault'; END IF;"
                " RETURN NEW; END $$ LANGUAGE plpgsql" % (name, cond_pg),
            "CREATE TRIGGER %s BEFORE INSERT ON %s FOR EACH ROW"
            " EXECUTE FUNCTION %s()" % (name, table, name))
    else:
        sql(db, "CREATE TRIGGER %s BEFORE INSERT ON %s WHEN %s BEGIN"
                " SELECT RAISE(ABORT, 'injected fault'); END"
            % (name, table, cond_sqlite))


def drop_fault(db, name, table):
    if testdb.PG:
        sql(db, "DROP TRIGGER %s ON %s" % (name, table),
            "DROP FUNCTION %s()" % name)
    else:
        sql(db, "DROP TRIGGER %s" % name)


class WriteLock:
    """Holds the database's write lock, as another writer would."""

    def __init__(self, db):
        if testdb.PG:
            import psycopg2
            self.con = psycopg2.connect(db)
            self.con.autocommit = False
            self.con.cursor().execute(
                "LOCK TABLE raw_inputs IN EXCLUSIVE MODE")
        else:
            self.con = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        if testdb.PG:
            self.con.rollback()
        else:
            self.con.execute("ROLLBACK")
        self.con.close()


def rollups(db):
    con = testdb.connect(db)
    try:
        return [sorted(con.execute("SELECT * FROM " + t).fetchall())
                for t in ("rollup_daily", "rollup_failures")]
    finally:
        con.close()


def stored(srv, rids):
    if not rids:
        return 0
    marks = ",".join("?" * len(rids))
    return srv.count("reports", "report_id IN (%s)" % marks, rids)


def post_group(srv, bodies, last=None):
    """POSTs bodies (rid -> bytes) at once while the write lock is held,
    then last (rid, bytes) once they wait in the server; releases the lock
    once all are queued for the store.  Returns rid -> HTTP status."""
    results = {}
    threads = []

    def post(rid, body):
        try:
            results[rid] = srv.post(body)
        except Exception as e:  # noqa: BLE001 - reported below
            results[rid] = (repr(e), "")

    def start(rid, body):
        t = threading.Thread(target=post, args=(rid, body))
        t.start()
        threads.append(t)

    def wait_in_flight(n):
        # n POSTs received (the GET of /metrics counts too).
        for _ in range(600):
            if srv.in_flight() >= n + 1:
                return
            time.sleep(0.05)
        ok(False, "POST %d reaches the server while the lock is held" % n,
           srv.in_flight())

    lock = WriteLock(srv.db)
    try:
        # One connection at a time, all on serve's one thread.
        for rid, body in bodies.items():
            start(rid, body)
            wait_in_flight(len(threads))
        if last is not None:
            start(*last)
            wait_in_flight(len(threads))
        time.sleep(1.0)
    finally:
        lock.release()
    for t in threads:
        t.join(180)
    ok(len(results) == len(threads), "every POST answered",
       (len(results), len(threads)))
    return {rid: results[rid][0] for rid in results}


def test_commit_fault(srv):
    """The commit fails (the rollups, written at commit, refuse one
    report's domain): every POST of the group gets 503."""
    add_fault(srv.db, "fault_commit", "rollup_daily",
              "NEW.domain = 'fault.example'", "NEW.domain = 'fault.example'")
    bodies = {"commit-%d" % i: report("commit-%d" % i)
              for i in range(GROUP - 1)}
    bodies["commit-fault"] = report("commit-fault", "fault.example")
    rids = list(bodies)
    raw_before = srv.count("raw_inputs")
    rollup_before = rollups(srv.db)
    codes = post_group(srv, bodies)
    ok(len(codes) == GROUP and all(c == 503 for c in codes.values()),
       "a failed group commit answers 503 to every POST of the group",
       codes)
    ok(not any(c is not None and 200 <= c < 300 for c in codes.values()),
       "and a 2xx to none of them", codes)
    ok(stored(srv, rids) == 0, "none of the group's reports is stored",
       stored(srv, rids))
    ok(srv.count("raw_inputs") == raw_before,
       "none of their raw inputs is kept")
    ok(rollups(srv.db) == rollup_before, "the rollups did not change")
    return bodies


def test_store_fault(srv):
    """One report of the group fails once its rows are going in, which
    rolls the group's transaction back: the POSTs stored before it in the
    group (at least the first, which opened it) get 503 with it; the ones
    that come after start a new group and are stored.  A 2xx only for a
    stored report, a 503 only for one not stored."""
    add_fault(srv.db, "fault_store", "reports",
              "NEW.report_id = '%s'" % FAULT, "NEW.report_id = '%s'" % FAULT)
    bodies = {"store-%d" % i: report("store-%d" % i)
              for i in range(GROUP - 1)}
    codes = post_group(srv, bodies, (FAULT, report(FAULT)))
    ok(codes.get(FAULT) == 503, "the report that fails: 503",
       codes.get(FAULT))
    failed = [r for r, c in codes.items() if c == 503 and r != FAULT]
    ok(len(failed) >= 1, "its group's earlier POSTs: 503 too", codes)
    ok(all(c in (200, 503) for c in codes.values()),
       "every POST answered 200 or 503", codes)
    print("# answers: %s" % sorted(codes.items()))
    good = [r for r, c in codes.items() if c == 200]
    ok(stored(srv, good) == len(good), "every POST answered 200 is stored",
       (good, stored(srv, good)))
    ok(stored(srv, failed + [FAULT]) == 0,
       "no POST answered 503 is stored", stored(srv, failed + [FAULT]))
    s, b = srv.post(report(FAULT))
    ok(s == 503, "the faulty report alone: 503", (s, b))
    ok(stored(srv, [FAULT]) == 0, "and nothing stored")
    return failed


def test_retry(srv, commit_bodies, store_failed):
    again = {r: b for r, b in commit_bodies.items() if r != "commit-fault"}
    again.update({r: report(r) for r in store_failed})
    codes = [srv.post(b)[0] for b in again.values()]
    ok(codes == [200] * len(again), "the others sent again are stored",
       codes)
    ok(stored(srv, list(again)) == len(again), "each once",
       stored(srv, list(again)))
    drop_fault(srv.db, "fault_commit", "rollup_daily")
    drop_fault(srv.db, "fault_store", "reports")
    for rid, body in ((FAULT, report(FAULT)),
                      ("commit-fault", commit_bodies["commit-fault"])):
        s, b = srv.post(body)
        ok(s == 200 and stored(srv, [rid]) == 1,
           "without the faults %s is stored too" % rid, (s, b))


def test_deadlock_retry(srv):
    """PostgreSQL: a group whose transaction fails on a deadlock (40P01,
    raised once by a trigger; the sequence that counts it is not rolled
    back) is run once more before anything is answered: every POST of the
    group 200, each stored once.  A group that deadlocks again on its
    retry: 503 to every POST, none stored (one retry, not a loop)."""
    if not testdb.PG:
        return
    sql(srv.db, "CREATE SEQUENCE deadlock_seq",
        "CREATE FUNCTION fault_deadlock() RETURNS trigger AS $$ BEGIN"
        " IF NEW.report_id = 'deadlock-always' OR"
        " (NEW.report_id = 'deadlock-once' AND"
        " nextval('deadlock_seq') = 1) THEN"
        " RAISE EXCEPTION 'injected deadlock'"
        " USING ERRCODE = 'deadlock_detected'; END IF;"
        " RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER fault_deadlock BEFORE INSERT ON reports"
        " FOR EACH ROW EXECUTE FUNCTION fault_deadlock()")
    bodies = {"dl-%d" % i: report("dl-%d" % i) for i in range(4)}
    bodies["deadlock-once"] = report("deadlock-once")
    codes = post_group(srv, bodies)
    con = testdb.connect(srv.db)
    try:
        fired = con.execute("SELECT last_value FROM deadlock_seq").fetchone()
    finally:
        con.close()
    ok(fired[0] == 2, "the deadlock was raised, then the retry ran", fired)
    ok(all(c == 200 for c in codes.values()),
       "a group that deadlocked once: every POST 200", codes)
    ok(stored(srv, list(bodies)) == len(bodies), "each stored once",
       stored(srv, list(bodies)))
    bodies = {"dl2-%d" % i: report("dl2-%d" % i) for i in range(4)}
    bodies["deadlock-always"] = report("deadlock-always")
    codes = post_group(srv, bodies)
    ok(all(c == 503 for c in codes.values()),
       "a group that deadlocks on its retry too: 503 to every POST", codes)
    ok(stored(srv, list(bodies)) == 0, "none stored",
       stored(srv, list(bodies)))
    sql(srv.db, "DROP TRIGGER fault_deadlock ON reports",
        "DROP FUNCTION fault_deadlock()", "DROP SEQUENCE deadlock_seq")


def test_drain_waiting(srv):
    """SIGTERM while a group waits for the locked database: serve keeps
    draining, stores the group once the lock goes, answers each POST
    200 and only then exits 0 (its connections were suspended: none may
    be left so when libmicrohttpd stops)."""
    rids = ["drain-%d" % i for i in range(3)]
    results = {}
    threads = []

    def post(rid):
        try:
            results[rid] = srv.post(report(rid))[0]
        except Exception as e:  # noqa: BLE001 - reported below
            results[rid] = repr(e)

    lock = WriteLock(srv.db)
    try:
        for rid in rids:
            t = threading.Thread(target=post, args=(rid,))
            t.start()
            threads.append(t)
            for _ in range(600):
                if srv.in_flight() >= len(threads) + 1:
                    break
                time.sleep(0.05)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        ok(srv.proc.poll() is None,
           "after SIGTERM serve waits for the group held by the lock")
    finally:
        lock.release()
    for t in threads:
        t.join(120)
    ok(all(results.get(r) == 200 for r in rids),
       "each POST of the group answered 200 once it is committed",
       results)
    ok(stored(srv, rids) == len(rids), "and stored", stored(srv, rids))
    rc = srv.stop()
    ok(rc == 0, "serve exits 0 after draining the group", rc)


def test_killed_after_200(tmp):
    """SIGKILL while 8 clients POST (groups being stored and committed,
    the log written in one write a commit: schema/walbuf.c): every report
    answered 200 before the kill is in the database, which passes its
    integrity check; serve started again on it finds them duplicates and
    stores new ones."""
    srv = Server(tmp, "killed", threads=4)
    answered = []  # rids answered 200 "stored"
    others = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(k):
        n = 0
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            while not stop.is_set():
                rid = "kill-%d-%d" % (k, n)
                n += 1
                c.request("POST", "/", report(rid),
                          {"Content-Type": "application/tlsrpt+json"})
                r = c.getresponse()
                body = r.read()
                with lock:
                    if r.status == 200 and body == b"stored\n":
                        answered.append(rid)
                    else:
                        others.append((rid, r.status, body))
        except (OSError, http.client.HTTPException):
            pass  # the kill
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for _ in range(6000):
        with lock:
            if len(answered) >= 300 or others:
                break
        time.sleep(0.005)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    for t in threads:
        t.join(60)
    with lock:
        done = list(answered)
    ok(len(done) >= 300 and not others,
       "300 POSTs answered 200 before serve was killed",
       (len(done), others[:3]))
    ok(stored(srv, done) == len(done),
       "every report answered 200 before SIGKILL is stored",
       (stored(srv, done), len(done)))
    if not testdb.PG:
        con = sqlite3.connect(srv.db)
        try:
            res = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
        ok(res == [("ok",)], "integrity_check passes after the kill", res)
    else:
        tap.skip("integrity_check passes after the kill",
                 "SQLite-only: PRAGMA integrity_check reads the SQLite file")
    srv.serve.stop(5)
    again = Server(tmp, "killed-again", threads=4, db=srv.db)
    try:
        s1, b1 = again.post(report(done[0]))
        s2, b2 = again.post(report("kill-new"))
        ok((s1, b1, s2, b2) == (200, "duplicate\n", 200, "stored\n"),
           "serve again: a stored report is a duplicate, a new one stored",
           (s1, b1, s2, b2))
    finally:
        rc = again.stop()
    ok(rc == 0, "serve started again exits 0 on SIGTERM", rc)


def sigterm_under_load(tmp, name):
    """One round of test_sigterm_under_load: (rc, answered, others)."""
    srv = Server(tmp, name, threads=1, extra="drain_timeout = 0\n")
    answered = []  # rids answered 200 "stored"
    others = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(k):
        n = 0
        while not stop.is_set():
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            try:
                while not stop.is_set():
                    rid = "%s-%d-%d" % (name, k, n)
                    n += 1
                    c.request("POST", "/", report(rid),
                              {"Content-Type": "application/tlsrpt+json"})
                    r = c.getresponse()
                    body = r.read()
                    with lock:
                        if r.status == 200 and body == b"stored\n":
                            answered.append(rid)
                        elif r.status != 503:
                            others.append((rid, r.status, body))
                    if r.getheader("Connection", "") == "close":
                        break
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)  # refused while stopping, or reset
            finally:
                c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for _ in range(6000):
        with lock:
            if len(answered) >= 100 or others:
                break
        time.sleep(0.005)
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(60)
    stop.set()
    for t in threads:
        t.join(60)
    with lock:
        done = list(answered)
    missing = len(done) - stored(srv, done)
    srv.serve.stop(5)
    return rc, len(done), others[:3], missing


def test_sigterm_under_load(tmp):
    """SIGTERM while 16 clients POST to serve's one libmicrohttpd thread:
    each group's committed POSTs are resumed one a thread by the committer
    and the rest by that thread as it answers the first (receiver.c
    resume).  With drain_timeout = 0 serve stops at once, while groups
    are committed and handed over: it must resume every POST before it
    stops libmicrohttpd (which aborts the process on a suspended
    connection) and exit 0; every report answered 200 is stored.  Eight
    rounds: without that wait about one round in ten aborted."""
    rounds = [sigterm_under_load(tmp, "term%d" % i) for i in range(8)]
    ok(all(r[0] == 0 for r in rounds),
       "serve exits 0 on SIGTERM under load on one thread", rounds)
    ok(all(r[1] >= 100 and not r[2] for r in rounds),
       "100 POSTs answered 200 before it, no answer but 200 or 503",
       rounds)
    ok(all(r[3] == 0 for r in rounds),
       "every report answered 200 is stored", rounds)


def main():
    if not BINARY or not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-group-")
    srv = None
    try:
        srv = Server(tmp)
        s, b = srv.post(report("before-the-fault"))
        ok(s == 200, "a POST is stored before the fault", (s, b))
        commit_bodies = test_commit_fault(srv)
        store_failed = test_store_fault(srv)
        test_retry(srv, commit_bodies, store_failed)
        test_deadlock_retry(srv)
        test_drain_waiting(srv)
        test_killed_after_200(tmp)
        test_sigterm_under_load(tmp)
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        import traceback
        ok(False, "test crashed: %r" % e, traceback.format_exc())
    finally:
        if srv is not None:
            rc = srv.stop()
            ok(rc == 0, "serve exits 0 on SIGTERM", rc)
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
