"""`fetch` against a misbehaving IMAP server on loopback (issue 9 item 4).

A small IMAP server written for this test (Dovecot cannot be made to
misbehave) speaks enough IMAP4rev1 for libetpan: greeting, CAPABILITY,
LOGIN, EXAMINE, UID SEARCH UID, UID FETCH of sizes and of (partial)
bodies (with or without their sizes) and headers, LOGOUT.  Each case makes it misbehave in one way and checks what the real
binary does: the exit status, the message, the memory it took (the peak
RSS of the child from wait4), the database.

- a literal announced at 4 GB: refused before memory is set aside;
- an endless answer: cut at the answer's cap, also before STARTTLS, and
  in the bodies' FETCH at the cap of its text outside literals;
- a byte every 0.3 s: the run's deadline ends it;
- a message left out of the body FETCH answer: the saved UID stays below
  it, and the next run stores it;
- a bogus UIDNEXT: the saved UID is the real last one, and a later message
  is stored;
- a message larger than max_message whose RFC822.SIZE lies: recorded once
  (one quarantine row, no second visit).
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
import testdb  # noqa: E402
import tap  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
MAX_MESSAGE = 64 * 1024


def report_mail(n, pad=0):
    rid = "hostile-%d" % n
    body = ('{"organization-name":"Hostile Test","date-range":'
            '{"start-datetime":"2026-11-01T00:00:00Z",'
            '"end-datetime":"2026-11-01T23:59:59Z"},'
            '"contact-info":"x@example.net","report-id":"%s",'
            '"policies":[{"policy":{"policy-type":"no-policy-found",'
            '"policy-domain":"example.org"},"summary":'
            '{"total-successful-session-count":5,'
            '"total-failure-session-count":0}}]}' % rid)
    return ("From: reporter@example.net\r\n"
            "To: tlsrpt@example.org\r\n"
            "Subject: Report Domain: example.org\r\n"
            "TLS-Report-Domain: example.org\r\n"
            "Message-ID: <%s@example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=\"tlsrpt\"; "
            "boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n%s\r\n"
            "--b\r\nContent-Type: application/tlsrpt+json\r\n\r\n%s\r\n"
            "--b--\r\n" % (rid, "x" * pad, body)).encode()


class FakeImap:
    """One mailbox of messages {uid: bytes}; behaviour set by mode."""

    def __init__(self, messages, mode="normal", uidnext=None, sizes=None):
        self.messages = dict(messages)
        self.mode = mode
        self.uidnext = uidnext
        self.sizes = sizes or {}
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.commands = []
        threading.Thread(target=self.accept, daemon=True).start()

    def close(self):
        self.stop.set()
        self.sock.close()

    def accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,),
                             daemon=True).start()

    def uids(self):
        return sorted(self.messages)

    def parse_set(self, s):
        top = max(self.uids()) if self.messages else 0
        out = set()
        for item in s.split(","):
            a, _, b = item.partition(":")
            lo = top if a == "*" else int(a)
            hi = lo if not b else (top if b == "*" else int(b))
            lo, hi = min(lo, hi), max(lo, hi)
            out.update(u for u in self.messages if lo <= u <= hi)
        return sorted(out)

    def serve(self, conn):
        f = conn.makefile("rb")
        try:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] fake\r\n")
            while not self.stop.is_set():
                line = f.readline()
                if not line:
                    return
                self.commands.append(line.decode(errors="replace").strip())
                tag, _, rest = line.decode().strip().partition(" ")
                cmd, _, args = rest.partition(" ")
                cmd = cmd.upper()
                if cmd == "CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n"
                                 b"%s OK done\r\n" % tag.encode())
                elif cmd == "STARTTLS" and self.mode == "endless":
                    line = b"* OK " + b"x" * 1000 + b"\r\n"
                    while not self.stop.is_set():
                        conn.sendall(line * 64)
                    return
                elif cmd == "LOGIN":
                    conn.sendall(b"%s OK logged in\r\n" % tag.encode())
                elif cmd in ("EXAMINE", "SELECT"):
                    nxt = self.uidnext or (max(self.uids() or [0]) + 1)
                    conn.sendall(b"* %d EXISTS\r\n* 0 RECENT\r\n"
                                 b"* OK [UIDVALIDITY 7] ok\r\n"
                                 b"* OK [UIDNEXT %d] ok\r\n"
                                 b"%s OK [READ-ONLY] done\r\n"
                                 % (len(self.messages), nxt, tag.encode()))
                elif cmd == "LOGOUT":
                    conn.sendall(b"* BYE bye\r\n%s OK done\r\n"
                                 % tag.encode())
                    return
                elif cmd == "UID" and args.upper().startswith("SEARCH UID "):
                    uids = self.parse_set(args.split(" ")[2])
                    conn.sendall(b"* SEARCH%s\r\n%s OK done\r\n"
                                 % (b"".join(b" %d" % u for u in uids),
                                    tag.encode()))
                elif cmd == "UID" and args.upper().startswith("FETCH"):
                    self.fetch(conn, tag, args.split(" ", 2)[1],
                               args.split(" ", 2)[2])
                else:
                    conn.sendall(b"%s BAD unknown\r\n" % tag.encode())
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def fetch(self, conn, tag, uidset, items):
        uids = self.parse_set(uidset)
        body = "BODY.PEEK[" in items.upper()
        if not body:
            if self.mode == "endless":
                line = b"* OK " + b"x" * 1000 + b"\r\n"
                while not self.stop.is_set():
                    conn.sendall(line * 64)
                return
            out = b""
            for u in uids:
                size = self.sizes.get(u, len(self.messages[u]))
                out += (b"* %d FETCH (UID %d RFC822.SIZE %d INTERNALDATE "
                        b"\"01-Nov-2026 12:00:00 +0000\")\r\n"
                        % (self.uids().index(u) + 1, u, size))
            conn.sendall(out + b"%s OK done\r\n" % tag.encode())
            return
        header = "HEADER" in items.upper()
        limit = None
        if "<0." in items:
            limit = int(items.split("<0.", 1)[1].split(">", 1)[0])
        if self.mode == "huge_literal":
            conn.sendall(b"* 1 FETCH (UID %d BODY[]<0> {4000000000}\r\n"
                         % uids[0] + b"x" * 1000)
            time.sleep(5)
            return
        if self.mode == "endless_body":
            line = b"* 1 FETCH (FLAGS (\\Seen))\r\n" * 1000
            while not self.stop.is_set():
                conn.sendall(line)
            return
        if self.mode == "trickle":
            while not self.stop.is_set():
                conn.sendall(b"*")
                time.sleep(0.3)
            return
        out = b""
        for u in uids:
            if self.mode == "omit" and u == 2:
                continue
            data = self.messages[u]
            if header:
                data = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            if limit is not None:
                data = data[:limit]
            sizes = b""
            if "RFC822.SIZE" in items.upper():
                sizes = (b"RFC822.SIZE %d INTERNALDATE "
                         b"\"01-Nov-2026 12:00:00 +0000\" "
                         % self.sizes.get(u, len(self.messages[u])))
            out += (b"* %d FETCH (UID %d %sBODY[%s]<0> {%d}\r\n"
                    % (self.uids().index(u) + 1, u, sizes,
                       b"HEADER" if header else b"", len(data)))
            out += data + b")\r\n"
        conn.sendall(out + b"%s OK done\r\n" % tag.encode())


def setup(tmp, port, extra=""):
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    os.chmod(pw, 0o600)
    conf = os.path.join(tmp, "c.conf")
    with open(conf, "w") as f:
        f.write("[limits]\nmax_message = %d\n\n"
                "[imap \"fake\"]\nhost = 127.0.0.1\nport = %d\n"
                "security = none\nusername = u\npassword_file = %s\n"
                "timeout = 5\n%s" % (MAX_MESSAGE, port, pw, extra))
    os.chmod(conf, 0o600)
    return conf


_dbs = {}


def db_of(tmp):
    """The database of the test directory tmp (one per scenario)."""
    if tmp not in _dbs:
        _dbs[tmp] = testdb.new(tmp, "t")
    return _dbs[tmp]


def fetch(tmp, conf, timeout=60):
    """Runs fetch; returns (status, stderr, stdout, peak RSS in MB, s)."""
    t0 = time.monotonic()
    p = subprocess.Popen([BINARY, "--db", db_of(tmp),
                          "--config", conf, "-v", "fetch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    out = p.stdout.read().decode()
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    return (p.returncode, err, out, ru.ru_maxrss / 1024.0,
            time.monotonic() - t0)


def query(tmp, sql):
    db = testdb.connect(db_of(tmp))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def last_uid(tmp):
    rows = query(tmp, "SELECT last_uid FROM imap_state")
    return rows[0][0] if rows else None


def stored(tmp):
    return query(tmp, "SELECT count(*) FROM reports")[0][0]


def case_huge_literal():
    with tempfile.TemporaryDirectory() as tmp:
        srv = FakeImap({1: report_mail(1)}, mode="huge_literal")
        rc, err, _, rss, _ = fetch(tmp, setup(tmp, srv.port))
        srv.close()
        tap.equal(rc, 3, "a 4 GB literal fails the run")
        tap.ok("literal of 4000000000 bytes" in err,
               "the message names the literal and its size", err)
        tap.ok(rss < 100, "memory stays bounded (%.0f MB peak)" % rss)
        print("# huge literal: peak RSS %.1f MB" % rss)


def case_endless():
    with tempfile.TemporaryDirectory() as tmp:
        srv = FakeImap({1: report_mail(1)}, mode="endless")
        rc, err, _, rss, _ = fetch(tmp, setup(tmp, srv.port))
        srv.close()
        tap.equal(rc, 3, "an endless answer fails the run")
        tap.ok("more than" in err and "one answer" in err,
               "the message says the answer was too large", err)
        tap.ok(rss < 100, "memory stays bounded (%.0f MB peak)" % rss)
        print("# endless answer: peak RSS %.1f MB" % rss)


def case_endless_body():
    # The bodies' answer, where sizes come with the bodies, is also capped
    # in what libetpan keeps of it: the text outside literals.
    with tempfile.TemporaryDirectory() as tmp:
        srv = FakeImap({1: report_mail(1), 2: report_mail(2)},
                       mode="endless_body")
        rc, err, _, rss, _ = fetch(tmp, setup(tmp, srv.port))
        srv.close()
        tap.equal(rc, 3, "an endless answer to the bodies' FETCH fails "
                  "the run")
        tap.ok("outside literals in one answer" in err,
               "the message says the answer's text was too large", err)
        tap.ok(rss < 100, "memory stays bounded (%.0f MB peak)" % rss)


def case_endless_before_tls():
    with tempfile.TemporaryDirectory() as tmp:
        srv = FakeImap({1: report_mail(1)}, mode="endless")
        conf = setup(tmp, srv.port)
        with open(conf) as f:
            text = f.read().replace("security = none", "security = starttls")
        with open(conf, "w") as f:
            f.write(text)
        rc, err, _, rss, _ = fetch(tmp, conf)
        srv.close()
        tap.ok(rc == 3 and "more than 1048576 bytes" in err,
               "before TLS (STARTTLS) an endless answer is cut at 1 MiB", err)
        tap.ok(rss < 100, "memory stays bounded (%.0f MB peak)" % rss)


def case_trickle():
    with tempfile.TemporaryDirectory() as tmp:
        srv = FakeImap({1: report_mail(1)}, mode="trickle")
        rc, err, _, _, secs = fetch(tmp, setup(tmp, srv.port,
                                               "deadline = 10\n"))
        srv.close()
        tap.equal(rc, 3, "a server sending a byte every 0.3 s fails the run")
        tap.ok("deadline" in err, "the message names the deadline", err)
        print("# trickle: ended after %.1f s (deadline 10 s)" % secs)


def case_omit():
    with tempfile.TemporaryDirectory() as tmp:
        msgs = {1: report_mail(1), 2: report_mail(2), 3: report_mail(3)}
        srv = FakeImap(msgs, mode="omit")
        conf = setup(tmp, srv.port)
        rc, err, _, _, _ = fetch(tmp, conf)
        srv.close()
        tap.equal(rc, 3, "a message left out of the FETCH answer fails "
                  "the run")
        tap.ok("UID 2" in err, "the message names the UID", err)
        tap.equal(last_uid(tmp), 1, "the saved UID stays below the "
                  "missing message")
        srv = FakeImap(msgs)
        conf = setup(tmp, srv.port)
        rc, err, _, _, _ = fetch(tmp, conf)
        srv.close()
        tap.ok((rc, stored(tmp), last_uid(tmp)) == (0, 3, 3),
               "the next run stores it", err)


def case_bogus_uidnext():
    with tempfile.TemporaryDirectory() as tmp:
        msgs = {1: report_mail(1), 2: report_mail(2)}
        srv = FakeImap(msgs, uidnext=4000000000)
        conf = setup(tmp, srv.port)
        rc, err, _, _, secs = fetch(tmp, conf)
        srv.close()
        tap.ok((rc, stored(tmp)) == (0, 2), "a bogus UIDNEXT: both "
               "messages stored", err)
        tap.equal(last_uid(tmp), 2, "the saved UID is the last real one")
        msgs[3] = report_mail(3)
        srv = FakeImap(msgs, uidnext=4000000000)
        rc, err, _, _, _ = fetch(tmp, setup(tmp, srv.port))
        srv.close()
        tap.ok((rc, stored(tmp), last_uid(tmp)) == (0, 3, 3),
               "a message arriving later is stored", err)


def case_oversized_once():
    with tempfile.TemporaryDirectory() as tmp:
        # UID 1 says 500 bytes but is larger than max_message; UID 2 is
        # left out of the answer, so the run stops after UID 1.
        msgs = {1: report_mail(1, pad=2 * MAX_MESSAGE), 2: report_mail(2)}
        srv = FakeImap(msgs, mode="omit", sizes={1: 500})
        conf = setup(tmp, srv.port)
        rc, err, _, _, _ = fetch(tmp, conf)
        srv.close()
        tap.equal(rc, 3, "first run stops before the missing UID 2")
        tap.equal(err.count("exceeds max_message"), 1,
                  "the oversized message is reported once")
        tap.equal(last_uid(tmp), 1, "the oversized message is recorded")
        q1 = query(tmp, "SELECT count(*) FROM quarantine")[0][0]
        tap.equal(q1, 1, "its header is quarantined")
        srv = FakeImap(msgs, sizes={1: 500})
        rc, err, _, _, _ = fetch(tmp, setup(tmp, srv.port))
        srv.close()
        tap.ok(rc == 0 and "0 oversized" in err, "the next run does not "
               "visit it again", err)
        tap.equal(query(tmp, "SELECT count(*) FROM quarantine")[0][0], 1,
                  "still one quarantine row")
        tap.equal(stored(tmp), 1, "and stores UID 2")


def main():
    if not BINARY:
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    case_huge_literal()
    case_endless()
    case_endless_body()
    case_endless_before_tls()
    case_trickle()
    case_omit()
    case_bogus_uidnext()
    case_oversized_once()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
