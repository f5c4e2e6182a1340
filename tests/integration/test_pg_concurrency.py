#!/usr/bin/env python3
"""Several collectors on one PostgreSQL (issue 14; TAP output).

Starts its own PostgreSQL (tools/pgcluster.sh, 127.0.0.1, a free port), so
that it may restart it, and runs in the default test setup; where
PostgreSQL is not installed it says so and skips.

1. Two `serve` processes started at the same moment on an empty database
   (both migrate it), two `ingest` processes with overlapping corpora, and
   8 client threads posting at the same time: every report of a shared set
   is posted twice, by two clients to the two receivers, and each client
   also posts reports of its own.  Checks in the database: every distinct
   report stored exactly once, every copy received counted (seen_count),
   each shared report answered "stored" exactly once and "duplicate" once,
   every POST answered 200 in the end (a 503 is retried, as senders do).
   Then the races made certain: an index whose expression sleeps holds
   each insert into reports between ON CONFLICT's check of the unique key
   and the insert of its entry, so that two receivers storing the same
   report, or two new copies of a stored one, at the same moment both
   pass the check: each POST is still answered 200 the first time (no
   unique violation, no "another copy was stored meanwhile"), the report
   stored once and the copies numbered in turn.
2. A PostgreSQL restart (pg_ctl stop -m fast, start) while an ingest is
   committing and a receiver is running: the ingest ends with the status of
   a database failure and one line that names it, nothing half written;
   the receiver answers 503 while the server is away and stores again once
   it is back, without being restarted; a second ingest of the same inputs
   stores the rest: every report once, nothing lost.
3. Two `fetch` processes started at the same moment against one IMAP
   mailbox (a real Dovecot on loopback) and one database: the source's
   lease lets one of them work on it, so no message is processed twice
   (no duplicate counted, every report's seen_count is 1); a third run
   afterwards finds nothing new.
"""

import glob
import gzip
import http.client
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "helpers"))
import dovecot  # noqa: E402
import mkcerts  # noqa: E402
import serveproc  # noqa: E402
import testdb  # noqa: E402
from corpusdb import GEN, generate  # noqa: E402
from tap import done, equal, ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
ROOT = os.environ.get("TRPT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))
PGCLUSTER = os.path.join(ROOT, "tools", "pgcluster.sh")


def cluster(*args):
    return subprocess.run(["sh", PGCLUSTER] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)


def new_database(admin_url, name):
    con = testdb.connect(admin_url)
    try:
        con.execute('CREATE DATABASE "%s"' % name)
    finally:
        con.close()
    return re.sub(r"/[^/?]*(\?|$)", "/" + name + r"\1", admin_url, count=1)


def one(url, sql, params=()):
    con = testdb.connect(url)
    try:
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()


def start_serve(tmp, name, db):
    """serve, not waited for (so that two start at the same moment)."""
    conf = serveproc.config(tmp, name, "[serve]\nrate_limit = 0\n"
                            "max_connections_per_client = 100000\n")
    return serveproc.Serve(tmp, name, db, conf)


def serve_port(srv):
    srv.ready(30, check=True)
    return srv.port


def post(conn, port, body):
    """One POST; returns (connection to use next, status, body)."""
    try:
        conn.request("POST", "/", body=body, headers={
            "Content-Type": "application/tlsrpt+gzip"})
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        if r.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        return conn, r.status, text
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        return (http.client.HTTPConnection("127.0.0.1", port, timeout=30),
                repr(e), "")


def poster(port, files, answers, lock, retried):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        for _ in range(20):
            conn, status, text = post(conn, port, body)
            if status != 503:
                break
            # As a sender does (RFC 8460 5.4): a 503 is "try again".
            with lock:
                retried.append(path)
            time.sleep(0.2)
        with lock:
            answers.append((path, status, text))
    conn.close()


def part_concurrent(tmp, admin):
    db = new_database(admin, "conc")
    # A: reports 0..1499, B: 1000..2499 (500 shared with A), for the two
    # ingests; C: 10000..10799, each posted twice (to both receivers);
    # D: 20000..20399, each posted once.
    a = generate(os.path.join(tmp, "a"), "--seed", "5", "--first", "0",
                 "--small", "1500")
    b = generate(os.path.join(tmp, "b"), "--seed", "5", "--first", "1000",
                 "--small", "1500")
    c = generate(os.path.join(tmp, "c"), "--seed", "5", "--first", "10000",
                 "--small", "800")
    d = generate(os.path.join(tmp, "d"), "--seed", "5", "--first", "20000",
                 "--small", "400")
    cfiles = sorted(glob.glob(os.path.join(tmp, "c", "*.json.gz")))
    dfiles = sorted(glob.glob(os.path.join(tmp, "d", "*.json.gz")))
    distinct = 2500 + c["reports"] + d["reports"]

    # Both receivers start on the empty database at once: both migrate.
    s1 = start_serve(tmp, "serve1", db)
    s2 = start_serve(tmp, "serve2", db)
    ports = [serve_port(s1), serve_port(s2)]

    # Client k posts shared group k // 2 to receiver k % 2 (so the other
    # receiver gets the same reports from client k ^ 1) and its own D
    # reports, in an order of its own.
    rnd = random.Random(14)
    lists = []
    for k in range(8):
        mine = cfiles[k // 2::4] + dfiles[k::8]
        rnd.shuffle(mine)
        lists.append(mine)
    answers = []
    retried = []
    lock = threading.Lock()
    threads = [threading.Thread(target=poster, args=(ports[k % 2], lists[k],
                                                      answers, lock, retried))
               for k in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    procs = [subprocess.Popen([BINARY, "--db", db, "-q", "ingest",
                               os.path.join(tmp, x)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True) for x in ("a", "b")]
    outs = [p.communicate(timeout=240) for p in procs]
    for t in threads:
        t.join(240)
    elapsed = time.monotonic() - t0
    logs = [s1.stop(30), s2.stop(30)]

    for name, p, (out, err) in zip("ab", procs, outs):
        equal(p.returncode, 0, "ingest %s exits 0" % name)
        equal(err, "", "ingest %s: no error" % name)
    for i, (rc, log) in enumerate(logs, 1):
        equal(rc, 0, "serve %d exits 0 on SIGTERM" % i)
        ok("error" not in log.lower() and "database" not in log,
           "serve %d logged no database error" % i, log[-2000:])
    sent = sum(len(x) for x in lists)
    equal(len(answers), sent, "every POST was answered")
    bad = [s for _, s, _ in answers if s != 200]
    ok(not bad, "every POST got 200 in the end (a 503 is retried, as "
       "senders do)", "%d not 200: %r" % (len(bad), sorted(set(map(str,
                                                                  bad)))))
    print("# %d of %d POSTs answered 503 once and retried"
          % (len(retried), sent))
    cset = set(cfiles)
    stored = [p for p, s, t in answers if p in cset and t == "stored\n"]
    dup = [p for p, s, t in answers if p in cset and t == "duplicate\n"]
    ok(len(stored) == len(cfiles) and set(stored) == cset,
       "each report posted to both receivers was answered 'stored' once",
       "%d stored answers for %d reports" % (len(stored), len(cfiles)))
    equal(len(dup), len(cfiles), "and 'duplicate' once")
    equal(one(db, "SELECT count(*) FROM reports"), distinct,
          "every distinct report is stored")
    equal(one(db, "SELECT count(*) FROM (SELECT 1 FROM reports GROUP BY"
              " organization_name, report_id HAVING count(*) > 1) x"), 0,
          "no report is stored twice")
    equal(one(db, "SELECT sum(seen_count) FROM reports"),
          a["reports"] + b["reports"] + 2 * c["reports"] + d["reports"],
          "every copy received was counted")
    equal(one(db, "SELECT count(*) FROM policies"),
          one(db, "SELECT count(*) FROM policies p JOIN reports r"
              " ON r.id = p.report"), "no stray policy rows")
    print("# %d reports from 2 ingests and 8 clients on 2 receivers in"
          " %.1f s" % (distinct, elapsed))


def race_report(rid, failed):
    return ('{"organization-name":"Race Org","date-range":'
            '{"start-datetime":"2026-11-02T00:00:00Z",'
            '"end-datetime":"2026-11-02T23:59:59Z"},'
            '"contact-info":"tlsrpt@example.net","report-id":"%s",'
            '"policies":[{"policy":{"policy-type":"sts",'
            '"policy-domain":"example.org"},"summary":'
            '{"total-successful-session-count":40,'
            '"total-failure-session-count":%d}}]}' % (rid, failed))


def slow_inserts(db):
    """Every insert into reports sleeps in an index expression after the
    ON CONFLICT check and before the arbiter's entry (indexes take their
    entries in the order they were created: the unique key is made again
    after the slow index)."""
    import psycopg2
    con = psycopg2.connect(db)
    con.autocommit = True
    try:
        cur = con.cursor()
        cur.execute("CREATE FUNCTION trpt_test_slow(bigint) RETURNS bigint"
                    " IMMUTABLE LANGUAGE plpgsql AS"
                    " $$BEGIN PERFORM pg_sleep(1); RETURN $1; END$$")
        cur.execute("CREATE INDEX trpt_test_slow ON reports"
                    " (trpt_test_slow(copy))")
        cur.execute("DROP INDEX reports_begin")
        cur.execute("CREATE UNIQUE INDEX reports_begin ON reports"
                    " (begin_ts, organization_name, report_id, copy)")
    finally:
        con.close()


def post_together(ports, bodies):
    """Posts bodies[i] to ports[i], all at the same moment."""
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=60)
             for p in ports]
    for c in conns:
        c.connect()
    barrier = threading.Barrier(len(ports))
    out = [None] * len(ports)

    def one_post(i):
        barrier.wait()
        _, status, text = post(conns[i], ports[i], bodies[i])
        out[i] = (status, text)
        conns[i].close()
    threads = [threading.Thread(target=one_post, args=(i,))
               for i in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def part_races(tmp, admin):
    db = new_database(admin, "races")
    s1 = start_serve(tmp, "serve4", db)
    s2 = start_serve(tmp, "serve5", db)
    ports = [serve_port(s1), serve_port(s2)]
    slow_inserts(db)

    # The same report in two bodies (gzip headers differ): two raw inputs,
    # one report.
    text = race_report("race-same", 2).encode()
    got = post_together(ports, [gzip.compress(text, mtime=1),
                                gzip.compress(text, mtime=2)])
    equal(sorted(got), [(200, "duplicate\n"), (200, "stored\n")],
          "the same report at the same moment on two receivers: stored by"
          " one, a duplicate for the other, at the first attempt")
    equal(one(db, "SELECT count(*) || ' ' || sum(seen_count) FROM reports"
              " WHERE report_id = 'race-same'"), "1 2",
          "stored once, both copies counted")

    # A stored report, then two other contents of it at the same moment.
    c = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=60)
    _, status, _ = post(c, ports[0],
                        gzip.compress(race_report("race-copies", 1).encode()))
    c.close()
    equal(status, 200, "a report stored")
    got = post_together(ports, [
        gzip.compress(race_report("race-copies", 2).encode()),
        gzip.compress(race_report("race-copies", 3).encode())])
    equal(got, [(200, "stored\n"), (200, "stored\n")],
          "two new copies of it at the same moment on two receivers: both"
          " stored at the first attempt")
    equal(one(db, "SELECT string_agg(copy || ':' || conflict || ':' ||"
              " counted, ' ' ORDER BY copy) FROM reports WHERE report_id ="
              " 'race-copies'"), "0:1:1 1:1:0 2:1:0",
          "the copies numbered 0, 1, 2, all flagged as conflicting, the"
          " first one counted")
    equal(one(db, "SELECT total_failed FROM reports WHERE report_id ="
              " 'race-copies' AND copy = 0"), 1, "copy 0 is the first")
    equal(one(db, "SELECT count(DISTINCT total_failed) FROM reports WHERE"
              " report_id = 'race-copies'"), 3, "each content kept once")
    for i, s in enumerate((s1, s2), 4):
        rc, log = s.stop(30)
        ok(rc == 0 and "cannot store" not in log,
           "serve %d stored every report (exit 0, nothing logged)" % i,
           log[-2000:])


def part_restart(tmp, admin, pgdir):
    db = new_database(admin, "restart")
    e = generate(os.path.join(tmp, "e"), "--seed", "6", "--first", "40000",
                 "--small", "2000")
    srv = start_serve(tmp, "serve3", db)
    port = serve_port(srv)
    body = open(sorted(glob.glob(os.path.join(tmp, "e", "*.json.gz")))[0],
                "rb").read()

    ing = subprocess.Popen([BINARY, "--db", db, "-q", "ingest",
                            os.path.join(tmp, "e")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    # Restart once the first batch is committed, while later ones are
    # being written.
    deadline = time.monotonic() + 120
    before = 0
    while ing.poll() is None and time.monotonic() < deadline:
        try:
            before = one(db, "SELECT count(*) FROM reports")
        except Exception:
            before = 0  # not migrated yet
        if before > 0:
            break
        time.sleep(0.02)
    r = cluster("stop", pgdir)
    during = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    _, status_down, _ = post(during, port, body)
    during.close()
    r2 = cluster("start", pgdir)
    ok(r.returncode == 0 and r2.returncode == 0,
       "PostgreSQL stopped (fast) and started again", r.stderr + r2.stderr)
    out, err = ing.communicate(timeout=240)
    interrupted = 0 < before < e["reports"] and ing.returncode != 0
    ok(interrupted, "the restart came in the middle of the ingest",
       "%d of %d committed before it; ingest exit %d"
       % (before, e["reports"], ing.returncode))
    lines = [ln for ln in err.splitlines() if ln.strip()]
    equal(ing.returncode, 3, "ingest: exit 3 (database failure)")
    ok(len(lines) == 1 and "database" in lines[0],
       "ingest: one line that names the database", err[-2000:])
    mid = one(db, "SELECT count(*) FROM reports")
    equal(one(db, "SELECT count(*) FROM reports r WHERE NOT EXISTS"
              " (SELECT 1 FROM policies p WHERE p.report = r.id)"), 0,
          "no report without its policies (nothing half written)")
    equal(status_down, 503, "serve answers 503 while PostgreSQL is away")

    # serve was not restarted: it stores again.
    status_up = None
    for _ in range(20):
        c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        _, status_up, text = post(c2, port, body)
        c2.close()
        if status_up == 200:
            break
        time.sleep(0.25)
    equal(status_up, 200, "serve stores again once PostgreSQL is back")

    p = subprocess.run([BINARY, "--db", db, "-q", "ingest",
                        os.path.join(tmp, "e")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=240)
    equal(p.returncode, 0, "the retried ingest exits 0")
    equal(one(db, "SELECT count(*) FROM reports"), e["reports"],
          "after the retry every report is stored (nothing lost)")
    equal(one(db, "SELECT count(*) FROM (SELECT 1 FROM reports GROUP BY"
              " organization_name, report_id HAVING count(*) > 1) x"), 0,
          "and none twice")
    equal(one(db, "SELECT count(*) FROM policies"), e["policies"],
          "every policy is stored, once")
    rc, log = srv.stop(30)
    equal(rc, 0, "serve exits 0 on SIGTERM after the restart")
    print("# %d of %d reports committed before the restart, %d after the"
          " failed ingest" % (before, e["reports"], mid))


def report_mail(rid):
    body = ('{"organization-name":"Fetcher Test","date-range":'
            '{"start-datetime":"2026-11-01T00:00:00Z",'
            '"end-datetime":"2026-11-01T23:59:59Z"},'
            '"contact-info":"tlsrpt@example.net","report-id":"%s",'
            '"policies":[{"policy":{"policy-type":"sts",'
            '"policy-domain":"example.org"},"summary":'
            '{"total-successful-session-count":40,'
            '"total-failure-session-count":2}}]}' % rid)
    return ("From: reporter@example.net\r\n"
            "To: tlsrpt@example.org\r\n"
            "Subject: Report Domain: example.org\r\n"
            "TLS-Report-Domain: example.org\r\n"
            "Message-ID: <%s@example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=\"tlsrpt\"; "
            "boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n"
            "--b\r\nContent-Type: application/tlsrpt+json\r\n\r\n%s\r\n"
            "--b--\r\n" % (rid, body)).encode()


def part_fetchers(tmp, admin):
    db = new_database(admin, "fetch")
    certdir = os.path.join(tmp, "certs")
    os.mkdir(certdir)
    certs = mkcerts.make(certdir)
    dvdir = os.path.join(tmp, "dovecot")
    os.mkdir(dvdir)
    dv = dovecot.Dovecot(dvdir, certs)
    try:
        n = 200
        m = dv.client()
        try:
            for i in range(n):
                typ, _ = m.append("INBOX", None, None,
                                  report_mail("fetch-%d" % i))
                if typ != "OK":
                    raise RuntimeError("APPEND failed")
        finally:
            m.logout()
        pw = os.path.join(tmp, "imap.pw")
        with open(pw, "w") as f:
            f.write(dovecot.PASSWORD + "\n")
        os.chmod(pw, 0o600)
        conf = os.path.join(tmp, "fetch.conf")
        with open(conf, "w") as f:
            f.write('[imap "box"]\nhost = 127.0.0.1\nport = %d\n'
                    "security = none\nusername = %s\npassword_file = %s\n"
                    "batch = 10\n" % (dv.port, dovecot.USER, pw))
        os.chmod(conf, 0o600)
        cmd = [BINARY, "--db", db, "--config", conf, "fetch"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  universal_newlines=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        again = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=120)
        runs = outs + [(again.stdout, again.stderr)]
        stored = dups = 0
        for out, _ in runs:
            m2 = re.search(r"ingested (\d+), duplicates (\d+)", out)
            if m2:
                stored += int(m2.group(1))
                dups += int(m2.group(2))
        ok(all(p.returncode == 0 for p in procs) and
           again.returncode == 0, "the two fetchers and a third run exit 0"
           " (a fetcher that finds the source busy skips it)",
           [(p.returncode, e[-500:]) for p, (_, e) in zip(procs, outs)] +
           [again.returncode, again.stderr[-500:]])
        equal(one(db, "SELECT count(*) FROM reports WHERE report_id LIKE"
                  " 'fetch-%'"), n, "every mail's report is stored")
        equal(one(db, "SELECT sum(seen_count) FROM reports WHERE report_id"
                  " LIKE 'fetch-%'"), n,
              "no message was processed twice (every seen_count is 1)")
        equal((stored, dups), (n, 0), "the runs stored %d between them,"
              " with no duplicate" % n)
    finally:
        dv.stop()


def main():
    if not BINARY or not GEN:
        print("1..0 # SKIP TRPT_BINARY and TRPT_GEN_CORPUS are needed")
        return 1
    tmp = tempfile.mkdtemp(prefix="trpt-pgconc-")
    os.chmod(tmp, 0o755)  # the server's user (as root: postgres) enters
    pgdir = os.path.join(tmp, "pg")
    r = cluster("start", pgdir)
    if r.returncode == 3:
        print("1..0 # SKIP PostgreSQL absent: %s" % r.stderr.strip())
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    try:
        if not ok(r.returncode == 0, "a PostgreSQL server of its own",
                  r.stderr):
            return done()
        admin = r.stdout.strip()
        part_concurrent(tmp, admin)
        part_races(tmp, admin)
        part_restart(tmp, admin, pgdir)
        part_fetchers(tmp, admin)
        return done()
    finally:
        cluster("stop", pgdir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
