#!/usr/bin/env python3
"""Hardening of `tlsrpt-collector serve` (TAP output), issue 9 items 3, 12.

A real serve process on a free loopback port:
- a slow-loris from one address (20 connections, one header byte every
  2 s) neither keeps its connections past header_timeout nor stops
  /healthz, asked from the same address, from answering;
- a store that fails (a trigger planted in the database) is answered 503
  with a clean body, its cause is logged once however many POSTs fail,
  /healthz answers 503 while stores fail and 200 again after one succeeds;
- serve refuses to start on a database it cannot write;
- request heads are capped by the connection's memory (16 kB, zeroed by
  libmicrohttpd at every request): a 12 kB head is answered, a 20 kB one
  gets 431, and a report POSTed on the same kept-alive connection after
  a large head, and a body larger than that memory, are stored.
"""

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import serveproc  # noqa: E402
import testdb  # noqa: E402
from tap import done, equal, ok, skip  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")

REPORT = b"""{"organization-name": "Hardening Inc.",
 "date-range": {"start-datetime": "2026-11-20T00:00:00Z",
                "end-datetime": "2026-11-20T23:59:59Z"},
 "contact-info": "tls@example.net", "report-id": "%s",
 "policies": [{"policy": {"policy-type": "sts", "policy-domain":
   "example.com"}, "summary": {"total-successful-session-count": 10,
   "total-failure-session-count": 0}}]}"""


def unprivileged():
    """A prefix running a command as nobody when we are root (root writes
    any file whatever its mode), else nothing."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


class Server:
    def __init__(self, tmp, name, serve_conf, db=None, prefix=()):
        self.db = db or testdb.new(tmp, name)
        conf = None
        if serve_conf is not None:
            conf = serveproc.config(tmp, name, "[serve]\nrate_limit = 0\n" +
                                    serve_conf)
        self.serve = serveproc.Serve(tmp, name, self.db, conf, prefix=prefix)
        self.serve.ready(15)
        self.proc = self.serve.proc
        self.port = self.serve.port

    def stop(self):
        return self.serve.stop(20)[0]

    def stderr(self):
        return self.serve.stderr()

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=body,
                      headers={"Content-Type": "application/json"}
                      if body is not None else {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


def health(srv):
    try:
        return srv.request("GET", "/healthz")[0]
    except (OSError, http.client.HTTPException) as e:
        return repr(e)


def test_slow_loris(tmp):
    srv = Server(tmp, "loris", "header_timeout = 4\n")
    try:
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/json\r\nX-Padding: " + b"a" * 100)
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            socks.append(s)
        answers = []
        closed_at = {}
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 12:
            for n, s in enumerate(socks):
                if n in closed_at:
                    continue
                try:
                    s.sendall(head[i:i + 1])
                except OSError:
                    closed_at[n] = time.monotonic() - t0
            i += 1
            answers.append(health(srv))
            time.sleep(2)
        equal(set(answers), {200},
              "/healthz from the slow clients' own address answers "
              "throughout a slow-loris of 20 connections")
        ok(len(closed_at) == 20 and max(closed_at.values()) < 10,
           "every slow connection is closed within header_timeout "
           "(4 s, checked every 2 s)", closed_at)
        for s in socks:
            s.close()
        status, body = srv.request("GET", "/metrics")
        m = re.search(rb'connections_closed_total\{reason="header_timeout"\}'
                      rb' (\d+)', body)
        ok(m is not None and int(m.group(1)) >= 1,
           "/metrics counts connections closed for a slow head",
           body[-600:])
        status, body = srv.request("POST", "/", REPORT % b"after-loris")
        equal((status, body), (200, b"stored\n"),
              "a report is stored after the slow-loris")
        equal(srv.stop(), 0, "serve exits 0")
    finally:
        srv.stop()


def test_failing_store(tmp):
    srv = Server(tmp, "failing", "")
    try:
        con = testdb.connect(srv.db, timeout=30, isolation_level=None)
        if testdb.PG:
            con.execute("CREATE FUNCTION planted() RETURNS trigger"
                        " LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION"
                        " 'simulated full disk'; END$$")
            con.execute("CREATE TRIGGER planted BEFORE INSERT ON raw_inputs"
                        " FOR EACH ROW EXECUTE FUNCTION planted()")
        else:
            con.execute("CREATE TRIGGER planted BEFORE INSERT ON raw_inputs "
                        "BEGIN SELECT RAISE(ABORT, 'simulated full disk'); "
                        "END")
        con.close()
        answers = [srv.request("POST", "/", REPORT % (b"f%d" % n))
                   for n in range(3)]
        equal([a[0] for a in answers], [503] * 3,
              "stores that fail are answered 503")
        equal(answers[0][1], b"cannot store the report now, try again "
              b"later\n", "the 503 body is one line, without a NUL byte")
        status, body = srv.request("GET", "/healthz")
        ok(status == 503 and b"simulated full disk" in body,
           "/healthz answers 503 with the cause while stores fail",
           (status, body))
        err = srv.stderr()
        ok(err.count("cannot store reports (answering 503)") == 1,
           "the cause is logged once for three failed POSTs", err)
        ok("simulated full disk" in err, "the log line names the cause",
           err)
        con = testdb.connect(srv.db, timeout=30, isolation_level=None)
        con.execute("DROP TRIGGER planted" +
                    (" ON raw_inputs" if testdb.PG else ""))
        con.close()
        status, body = srv.request("POST", "/", REPORT % b"f-retried")
        equal((status, body), (200, b"stored\n"),
              "the retry is stored once the cause is gone")
        equal(health(srv), 200, "/healthz answers 200 again")
        ok("stores succeed again" in srv.stderr(),
           "the recovery is logged", srv.stderr())
        equal(srv.stop(), 0, "serve exits 0")
    finally:
        srv.stop()


def test_read_only_database(tmp):
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro)
    db = os.path.join(ro, "t.db")
    rpt = os.path.join(tmp, "r.json")
    with open(rpt, "wb") as f:
        f.write(REPORT % b"ro")
    subprocess.run([BINARY, "--db", db, "-q", "ingest", rpt], check=True)
    # A directory and file this process may not write (as root: run
    # serve as nobody).
    os.chmod(db, 0o444)
    os.chmod(ro, 0o777)  # the WAL files may be created, not the database
    os.chmod(tmp, 0o755)
    try:
        srv = Server(tmp, "ro", None, db=db, prefix=unprivileged())
        try:
            rc = srv.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        srv.stop()
        err = srv.stderr()
        ok(srv.port is None and rc == 3,
           "serve refuses to start on a database it cannot write (exit 3)",
           (srv.port, rc))
        ok("cannot write to the database" in (err or ""),
           "and says why", err)
    finally:
        os.chmod(ro, 0o755)


def test_head_cap(tmp):
    srv = Server(tmp, "headcap", "")
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/healthz", headers={"X-Pad": "a" * 12000})
        r = c.getresponse()
        equal((r.status, r.read()), (200, b"ok\n"),
              "a 12 kB request head is answered")
        c.request("POST", "/", body=REPORT % b"after-large-head",
                  headers={"Content-Type": "application/json",
                           "X-Pad": "b" * 12000})
        r = c.getresponse()
        equal((r.status, r.read()), (200, b"stored\n"),
              "a POST with a 12 kB head on the same kept-alive connection "
              "is stored")
        # A body four times the connection's memory streams through it.
        big = REPORT % b"big-body"
        big = big[:-1] + b" " * (64 * 1024) + b"}"
        c.request("POST", "/", body=big,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        equal((r.status, r.read()), (200, b"stored\n"),
              "a 64 kB body on the same connection is stored")
        c.close()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/healthz", headers={"X-Pad": "c" * 20000})
        r = c.getresponse()
        r.read()
        equal(r.status, 431, "a 20 kB request head gets 431 (the cap of "
              "libmicrohttpd's connection memory, 16 kB)")
        c.close()
        equal(health(srv), 200, "serve answers after it")
        equal(srv.stop(), 0, "serve exits 0")
    finally:
        srv.stop()


def main():
    if not BINARY or not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-serve-hard-")
    try:
        test_slow_loris(tmp)
        test_failing_store(tmp)
        test_head_cap(tmp)
        if not testdb.PG:  # a read-only SQLite file
            test_read_only_database(tmp)
        else:
            skip("serve on a read-only database file", "SQLite-only: "
                 "the mode of the database file (PostgreSQL: "
                 "default_transaction_read_only, test sql_pg)")
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        import traceback
        ok(False, "test crashed: %r" % e, traceback.format_exc())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())
