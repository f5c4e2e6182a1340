"""`tlsrpt-collector run` as a service (issue 10 item 1), against real
servers on loopback: a Dovecot (tests/helpers/dovecot.py) and the
daemon's own HTTPS receiver.

- a report mail APPENDed to the mailbox is stored within seconds although
  the polling interval is 300 s: IMAP IDLE (the delay is printed);
- a report POSTed to the receiver is stored;
- a failing source (a closed port) is logged and retried, the others go
  on;
- SIGHUP with a renewed certificate: the receiver serves the new one;
- every log line carries a journald priority prefix and no password;
- SIGTERM exits 0, and the database is consistent (integrity_check).
"""
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import dovecot  # noqa: E402
import mkcerts  # noqa: E402
import tap  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")


def report_json(rid):
    return ('{"organization-name":"Run Test","date-range":'
            '{"start-datetime":"2026-11-02T00:00:00Z",'
            '"end-datetime":"2026-11-02T23:59:59Z"},'
            '"contact-info":"x@example.net","report-id":"%s",'
            '"policies":[{"policy":{"policy-type":"sts",'
            '"policy-domain":"example.org"},"summary":'
            '{"total-successful-session-count":40,'
            '"total-failure-session-count":2}}]}' % rid)


def report_mail(rid):
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
            "--b--\r\n" % (rid, report_json(rid))).encode()


class Log:
    """The daemon's standard error, read by a thread, lines kept."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self.read, args=(stream,),
                         daemon=True).start()

    def read(self, stream):
        for raw in stream:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, text, start=0, timeout=30):
        """Index of the first line at or after start holding text."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def sd_notify_built():
    """Whether the binary was built with libsystemd (the unit's Type)."""
    build = os.environ.get("TRPT_BUILD_ROOT", "")
    unit = os.path.join(build, "systemd", "tlsrpt-collector.service")
    try:
        with open(unit) as f:
            return "Type=notify" in f.read()
    except OSError:
        return False


def notified(sock):
    try:
        return sock.recv(4096).decode()
    except OSError as e:
        return "nothing (%s)" % e


def stored(db, rid):
    con = testdb.connect(db, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM reports WHERE report_id = ?",
                           (rid,)).fetchone()[0]
    finally:
        con.close()


def peer_cert(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                    timeout=10)
    c.connect()
    der = c.sock.getpeercert(binary_form=True)
    c.close()
    return der


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def main():
    if not BINARY:
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        # Dovecot's unprivileged processes must reach their files.
        os.chmod(tmp, 0o755)
        certdir = os.path.join(tmp, "certs")
        os.mkdir(certdir)
        certs = mkcerts.make(certdir)
        dvdir = os.path.join(tmp, "dovecot")
        os.mkdir(dvdir)
        dv = dovecot.Dovecot(dvdir, certs)
        try:
            return run_tests(tmp, certs, dv)
        finally:
            dv.stop()


def run_tests(tmp, certs, dv):
    db = testdb.new(tmp, "t")
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write(dovecot.PASSWORD + "\n")
    os.chmod(pw, 0o600)
    srvdir = os.path.join(tmp, "srv")
    os.mkdir(srvdir)
    cert = os.path.join(srvdir, "cert.pem")
    key = os.path.join(srvdir, "key.pem")
    with open(certs["server.pem"]) as a, open(cert, "w") as b:
        b.write(a.read())
    with open(certs["server.key"]) as a, open(key, "w") as b:
        b.write(a.read())
    os.chmod(key, 0o600)
    port = dovecot.free_port()
    dead = dovecot.free_port()
    dport = dovecot.free_port()
    conf = os.path.join(tmp, "c.conf")
    with open(conf, "w") as f:
        f.write(f"""[serve]
listen = 127.0.0.1:{port}
tls_cert = {cert}
tls_key = {key}

[dashboard]
listen = 127.0.0.1:{dport}

[imap "box"]
host = 127.0.0.1
port = {dv.port}
security = starttls
ca_file = {certs['ca.pem']}
username = {dovecot.USER}
password_file = {pw}
interval = 300

[imap "dead"]
host = 127.0.0.1
port = {dead}
security = none
username = nobody
password_file = {pw}
connect_timeout = 2
""")
    os.chmod(conf, 0o600)
    # systemd's notification socket (Type=notify), when built with it.
    nsock_path = os.path.join(tmp, "notify.sock")
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(nsock_path)
    nsock.settimeout(20)
    env = dict(os.environ)
    env["NOTIFY_SOCKET"] = nsock_path
    proc = subprocess.Popen([BINARY, "--db", db, "--config", conf, "run"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    log = Log(proc.stderr)
    try:
        tap.ok(log.wait_for("receiver listening") is not None,
               "the receiver starts", "\n".join(log.lines))
        sd = sd_notify_built()
        if sd:
            tap.equal(notified(nsock), "READY=1",
                      "sd_notify READY=1 once started")
        tap.ok(log.wait_for("dashboard on http://127.0.0.1:%d" % dport)
               is not None, "run starts the dashboard too",
               "\n".join(log.lines))
        try:
            c = http.client.HTTPConnection("127.0.0.1", dport, timeout=10)
            c.request("GET", "/")
            st = c.getresponse().status
            c.close()
        except OSError as e:
            st = str(e)
        tap.equal(st, 200, "the dashboard answers")
        i = log.wait_for("source box: synced")
        tap.ok(i is not None, "the IMAP source syncs", "\n".join(log.lines))

        # A report mail arrives: stored without waiting for the 300 s
        # interval, because the source is in IDLE.
        t0 = time.monotonic()
        dv.append("INBOX", report_mail("run-idle-1"))
        delay = None
        while time.monotonic() - t0 < 20:
            if stored(db, "run-idle-1"):
                delay = time.monotonic() - t0
                break
            time.sleep(0.02)
        tap.ok(delay is not None, "an APPENDed report is stored while the "
               "source waits in IDLE", "\n".join(log.lines))
        if delay is not None:
            print("# IDLE delay: APPEND to stored in %.3f s" % delay)

        # A POST to the receiver.
        ctx = ssl.create_default_context(cafile=certs["ca.pem"])
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                        timeout=10)
        c.request("POST", "/", report_json("run-post-1").encode(),
                  {"Content-Type": "application/tlsrpt+json"})
        r = c.getresponse()
        r.read()
        c.close()
        tap.equal(r.status, 200, "a POSTed report is answered 200")
        tap.equal(stored(db, "run-post-1"), 1, "and stored")

        # The dead source is retried, and did not stop the others.
        i = log.wait_for("source dead: connect to")
        tap.ok(i is not None and log.lines[i].startswith("<3>") and
               "retrying in 5 s" in log.lines[i],
               "a failing source is logged as an error with its retry",
               "\n".join(log.lines))

        # SIGHUP with a renewed certificate.
        old = peer_cert(port, certs["ca.pem"])
        newdir = os.path.join(tmp, "renewed")
        os.mkdir(newdir)
        renewed = mkcerts.make(newdir)
        # The renewed chain is signed by a new CA; trust both.
        both = os.path.join(tmp, "both-ca.pem")
        with open(both, "w") as f:
            for path in (certs["ca.pem"], renewed["ca.pem"]):
                with open(path) as g:
                    f.write(g.read())
        with open(renewed["server.pem"]) as a, open(cert, "w") as b:
            b.write(a.read())
        with open(renewed["server.key"]) as a, open(key, "w") as b:
            b.write(a.read())
        mark = len(log.lines)
        proc.send_signal(signal.SIGHUP)
        j = log.wait_for("receiver listening", mark)
        tap.ok(j is not None, "SIGHUP restarts the receiver",
               "\n".join(log.lines))
        if sd:
            tap.equal((notified(nsock), notified(nsock)),
                      ("RELOADING=1", "READY=1"),
                      "sd_notify RELOADING=1, then READY=1")
        new = peer_cert(port, both)
        tap.ok(new == pem_der(renewed["server.pem"]) and new != old,
               "after SIGHUP the receiver serves the renewed certificate")
        k = log.wait_for("source box: synced", mark)
        tap.ok(k is not None, "and the IMAP source runs again")
        dv.append("INBOX", report_mail("run-idle-2"))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20 and not stored(db, "run-idle-2"):
            time.sleep(0.05)
        tap.equal(stored(db, "run-idle-2"), 1, "a report after the reload "
                  "is stored too")

        # SIGHUP with a configuration that would not start: the running
        # one stays.
        with open(conf) as f:
            good = f.read()
        with open(conf, "w") as f:
            f.write(good.replace("[serve]\n", "[serve]\nbogus_key = 1\n"))
        mark = len(log.lines)
        proc.send_signal(signal.SIGHUP)
        tap.ok(log.wait_for("keeping the running configuration", mark)
               is not None, "SIGHUP with a broken configuration keeps the "
               "running one", "\n".join(log.lines[mark:]))
        c = http.client.HTTPSConnection("127.0.0.1", port,
                                        context=ssl.create_default_context(
                                            cafile=both), timeout=10)
        c.request("POST", "/", report_json("run-post-2").encode(),
                  {"Content-Type": "application/tlsrpt+json"})
        r = c.getresponse()
        r.read()
        c.close()
        tap.ok(r.status == 200 and stored(db, "run-post-2") == 1,
               "and goes on receiving")

        # SIGTERM: drains and exits 0.
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        tap.equal(rc, 0, "SIGTERM exits 0")
        if sd:
            msgs = []
            nsock.settimeout(0.5)
            try:
                while True:
                    msgs.append(nsock.recv(4096).decode())
            except OSError:
                pass
            tap.ok("STOPPING=1" in msgs, "sd_notify STOPPING=1", msgs)
        tap.ok(log.wait_for("stopped", 0, 5) is not None, "it says so")
        if not testdb.PG:  # the SQLite file's own check
            con = testdb.connect(db)
            tap.equal(con.execute("PRAGMA integrity_check").fetchone()[0],
                      "ok", "the database is consistent after the stop")
            con.close()
        else:
            tap.skip("the database is consistent after the stop",
                     "SQLite-only: PRAGMA integrity_check reads the SQLite file (PostgreSQL checks its pages itself)")

        bad = [ln for ln in log.lines
               if not (len(ln) > 3 and ln[0] == "<" and ln[1] in "01234567"
                       and ln[2] == ">")]
        tap.equal(bad, [], "every log line has a journald priority prefix")
        tap.ok(not any(dovecot.PASSWORD in ln for ln in log.lines),
               "no log line holds the password")
        for ln in log.lines:
            if "stored report" in ln or "listening" in ln:
                print("# journal: %s" % ln)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
