"""Alert delivery of `tlsrpt-collector run` (issue 10 item 2), against a
real SMTP server (aiosmtpd) and an HTTPS webhook sink on loopback.

Twenty days of reports from one sender for example.org are stored, the
last two with 40% failures: a drop of the domain and of the sender, one
incident.  Then:
- `run` sends exactly one alert mail and one POST to each webhook
  (generic JSON with both views, Slack format), and logs it;
- run again: nothing is sent twice;
- a good day is stored (recovery): the next run sends one close to each
  channel, and a run after it nothing.
"""
import asyncio  # noqa: F401  (aiosmtpd needs an event loop policy)
import email
import email.policy
import http.server
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import mkcerts  # noqa: E402
import tap  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
DAY = 86400


def report(day, ok, failed, rid):
    def iso(t):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    pol = {"policy": {"policy-type": "sts", "policy-domain": "example.org",
                      "policy-string": ["version: STSv1", "mode: enforce"],
                      "mx-host": ["mx.example.org"]},
           "summary": {"total-successful-session-count": ok,
                       "total-failure-session-count": failed}}
    if failed:
        pol["failure-details"] = [{
            "result-type": "certificate-expired",
            "sending-mta-ip": "192.0.2.1",
            "receiving-mx-hostname": "mx.example.org",
            "failed-session-count": failed}]
    return json.dumps({
        "organization-name": "Google Inc.",
        "date-range": {"start-datetime": iso(day * DAY),
                       "end-datetime": iso(day * DAY + DAY - 1)},
        "contact-info": "smtp-tls-reporting@google.com",
        "report-id": rid, "policies": [pol]})


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 OK"


class HookHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.server.posts.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def hook_server(certs):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HookHandler)
    srv.posts = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["server.pem"], certs["server.key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def alert_mails(sink):
    return [m for m in sink.messages if "alerts@example.org" in m[0]]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_once(db, conf, want):
    """Starts run, waits for its first evaluation, stops it; the log."""
    p = subprocess.Popen([BINARY, "--db", db, "--config", conf, "run"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        line = p.stderr.readline().decode(errors="replace")
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "alerts: evaluated," in line:
            break
    p.send_signal(signal.SIGTERM)
    try:
        rest, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
    rc = p.wait()
    return rc, lines


def main():
    if not BINARY:
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    warnings.simplefilter("ignore", DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from aiosmtpd.controller import Controller
    with tempfile.TemporaryDirectory() as tmp:
        certs = mkcerts.make(tmp)
        sink = Sink()
        sport = free_port()
        smtp = Controller(sink, hostname="127.0.0.1", port=sport)
        smtp.start()
        smtp.trpt_port = sport
        hooks = hook_server(certs)
        try:
            return scenario(tmp, certs, sink, smtp, hooks)
        finally:
            smtp.stop()
            hooks.shutdown()


def scenario(tmp, certs, sink, smtp, hooks):
    db = testdb.new(tmp, "t")
    today = int(time.time()) // DAY
    rdir = os.path.join(tmp, "reports")
    os.mkdir(rdir)
    # One certificate-expired failure a day before the drop: the type is
    # not new, so the drop is the only incident.
    for d in range(today - 20, today):
        failed = 400 if d >= today - 2 else 1
        with open(os.path.join(rdir, "r%d.json" % d), "w") as f:
            f.write(report(d, 1000 - failed, failed, "notify-%d" % d))
    r = subprocess.run([BINARY, "--db", db, "ingest", rdir],
                       capture_output=True, text=True)
    tap.equal(r.returncode, 0, "twenty days of reports are stored")
    hport = hooks.server_address[1]
    conf = os.path.join(tmp, "c.conf")
    with open(conf, "w") as f:
        f.write(f"""[summary]
from = tlsrpt@example.org
to = postmaster@example.org
smtp_url = smtp://127.0.0.1:{smtp.trpt_port}
starttls = no
send_at = Mon 00:00

[notify]
mail_to = alerts@example.org

# The live check run does when an alert opens asks a resolver on a closed
# loopback port: it fails at once, off the network, and says so.
[check]
resolver = 127.0.0.1@{free_port()}
dns_timeout = 1
timeout = 1
max_time = 5

[webhook "hook"]
url = https://127.0.0.1:{hport}/generic
ca_file = {certs['ca.pem']}

[webhook "chat"]
url = https://127.0.0.1:{hport}/slack
format = slack
ca_file = {certs['ca.pem']}
""")
    os.chmod(conf, 0o600)

    rc, log = run_once(db, conf, 3)
    tap.equal(rc, 0, "run exits 0 on SIGTERM")
    mails = alert_mails(sink)
    tap.equal(len(mails), 1, "exactly one alert mail")
    weekly = [m for m in sink.messages if "postmaster@example.org" in m[0]]
    tap.ok(len(weekly) == 1 and b"Subject: TLS" in weekly[0][1] and
           b"multipart/alternative" in weekly[0][1],
           "the weekly summary is sent at send_at (Mon 00:00, passed)",
           repr(weekly)[:300])
    generic = [b for p, b in hooks.posts if p == "/generic"]
    slack = [b for p, b in hooks.posts if p == "/slack"]
    tap.equal((len(generic), len(slack)), (1, 1),
              "exactly one POST to each webhook")
    if mails:
        msg = email.message_from_bytes(mails[0][1],
                                       policy=email.policy.default)
        subject = str(msg["Subject"])
        body = msg.get_content()
        tap.ok("OPEN drop of domain example.org" in subject and
               "also sender Google Inc." in subject,
               "the mail names the incident, both views", subject)
        tap.ok("Google Inc." in body and "certificate-expired" in body and
               "fix:" in body, "the mail shows both views with causes and "
               "fixes", body)
    if generic:
        j = json.loads(generic[0])
        scopes = sorted(a.get("scope") for a in j.get("alerts", []))
        tap.ok(j.get("event") == "open" and scopes == ["domain", "sender"],
               "the generic webhook carries one incident with both views",
               generic[0][:400])
    if slack:
        tap.ok("*OPEN drop of domain example.org" in
               json.loads(slack[0]).get("text", ""), "the Slack body")
    sent = [x for x in log if "sent to" in x]
    tap.ok(any(x.startswith("<4>alert OPEN") for x in log) and
           len(sent) == 3 and all(x.startswith("<6>") for x in sent),
           "the journal has the alert and one line per channel",
           "\n".join(log))
    tap.ok(any("live check" in x and "example.org" in x for x in log),
           "run checks the domain live when the alert opens",
           "\n".join(log))
    for line in log:
        if "alert" in line:
            print("# journal: %s" % line)

    rc, log = run_once(db, conf, 0)
    tap.equal((len(alert_mails(sink)), len(sink.messages), len(hooks.posts)),
              (1, 2, 2), "a restart sends nothing again (alert nor summary)")
    tap.ok(any("0 notifications sent" in x for x in log),
           "and says so", "\n".join(log))

    with open(os.path.join(rdir, "good.json"), "w") as f:
        f.write(report(today, 1000, 0, "notify-good"))
    subprocess.run([BINARY, "--db", db, "ingest",
                    os.path.join(rdir, "good.json")], capture_output=True)
    rc, log = run_once(db, conf, 3)
    closes = alert_mails(sink)[1:]
    tap.equal((len(closes), len(hooks.posts)), (1, 4),
              "the recovery closes it: one mail, one POST per webhook")
    if closes:
        msg = email.message_from_bytes(closes[0][1],
                                       policy=email.policy.default)
        tap.ok("CLOSED drop of domain example.org" in str(msg["Subject"])
               and "recovered" in str(msg["Subject"]),
               "the close names the incident", str(msg["Subject"]))
    rc, log = run_once(db, conf, 0)
    tap.equal((len(sink.messages), len(hooks.posts)), (3, 4),
              "and a restart after it sends nothing")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
