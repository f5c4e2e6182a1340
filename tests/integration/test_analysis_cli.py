#!/usr/bin/python3
"""Integration test of trends, alerts and summary through the binary.

Ingests two weeks of generated RFC 8460 reports (a Google-like sender
with an expired certificate on one MX in the second week, a Microsoft-like
sender listing the same sessions under sts and tlsa), checks trends and
alerts, then sends the weekly summary to a real SMTP server (aiosmtpd,
started here on a free loopback port) and parses the received message as
MIME; then again over STARTTLS with AUTH against a server that requires
both (a self-signed certificate made with openssl).  Prints TAP.  Needs
Debian's python3-aiosmtpd and openssl.
"""

import datetime
import email
import email.policy
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
import testdb  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY", "tlsrpt-collector")
MONDAY = datetime.date(2026, 1, 26)  # 2026-W05
results = []


def check(cond, what, detail=""):
    results.append((bool(cond), what, detail))


def run(args, **kw):
    return subprocess.run([BINARY] + args, capture_output=True, text=True,
                          timeout=60, **kw)


def report(org, contact, day, policies, rid):
    start = datetime.datetime.combine(day, datetime.time(0, 0))
    return {
        "organization-name": org,
        "date-range": {
            "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end-datetime": (start + datetime.timedelta(seconds=86399))
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "contact-info": contact,
        "report-id": rid,
        "policies": policies,
    }


def policy(ptype, domain, ok, failed, details=None, testing=False):
    p = {
        "policy": {"policy-type": ptype, "policy-domain": domain},
        "summary": {"total-successful-session-count": ok,
                    "total-failure-session-count": failed},
    }
    if ptype == "sts":
        p["policy"]["policy-string"] = [
            "version: STSv1",
            "mode: testing" if testing else "mode: enforce",
            "mx: *.example.com", "max_age: 86400"]
    if details:
        p["failure-details"] = details
    return p


def write_reports(d):
    n = 0
    for i in range(-14, 7):
        day = MONDAY + datetime.timedelta(days=i)
        failed = 100 if i >= 2 else 0
        details = [{"result-type": "certificate-expired",
                    "sending-mta-ip": "209.85.220.1",
                    "receiving-mx-hostname": "mx2.example.com",
                    "failed-session-count": failed}] if failed else None
        reps = [
            report("Google Inc.", "smtp-tls-reporting@google.com", day,
                   [policy("sts", "example.com", 1000 - failed, failed,
                           details),
                    policy("sts", "example.net", 50, 0)],
                   day.isoformat() + "T00:00:00Z_example.com"),
            report("Microsoft Corporation", "tlsrpt-noreply@microsoft.com",
                   day,
                   [policy("sts", "example.com", 500, 0),
                    policy("tlsa", "example.com", 500, 0)],
                   "1337%d+example.com" % (i + 100)),
        ]
        for r in reps:
            n += 1
            with open(os.path.join(d, "r%03d.json" % n), "w") as f:
                json.dump(r, f)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(d):
    """A self-signed certificate for 127.0.0.1 (openssl), as key, cert."""
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return key, cert


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 OK"


def text_of(msg, ctype):
    for part in msg.walk():
        if part.get_content_type() == ctype:
            return part.get_content()
    return None


def check_message(raw, label):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    check(msg.get_content_type() == "multipart/alternative",
          label + ": multipart/alternative", msg.get_content_type())
    types = [p.get_content_type() for p in msg.iter_parts()]
    check(types == ["text/plain", "text/html"],
          label + ": text/plain then text/html parts", str(types))
    subject = str(msg["Subject"])
    check("2026-W05" in subject and "example.com" in subject
          and "95.39% encrypted" in subject and "-4.61 points" in subject
          and "3 alerts" in subject, label + ": subject figures", subject)
    text = text_of(msg, "text/plain") or ""
    html = text_of(msg, "text/html") or ""
    check("10850 sessions" in text and "500 failed" in text,
          label + ": totals in the text part")
    check("10500 sessions, 500 failed, 95.24% successful (-4.76 points)"
          in text, label + ": example.com figures in the text part")
    check("Google Inc.: 500 failed of 7000" in text
          and "mx2.example.com: 500 failed" in text,
          label + ": top sender and MX host")
    check("certificate-expired (certificate expired): 500 sessions" in text
          and "Probable cause:" in text, label + ": failure type and cause")
    check(text.count("2026-01-2") + text.count("2026-02-01") >= 7,
          label + ": a bar per day")
    check("<h2" in html and "95.24%" in html, label + ": HTML figures")
    check(not any(x in html.lower() for x in
                  ("<img", "<script", "<link", "src=", "url(", "http")),
          label + ": HTML is self-contained")
    return msg


def main():
    # aiosmtpd 1.4 logs a warning about its own deprecated login_data.
    warnings.simplefilter("ignore", DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    tmp = tempfile.mkdtemp(prefix="trpt-analysis-")
    controller = None
    try:
        db = testdb.new(tmp, "t")
        rep = os.path.join(tmp, "reports")
        os.mkdir(rep)
        write_reports(rep)
        r = run(["--db", db, "ingest", rep])
        check(r.returncode == 0 and "ingested 42" in r.stdout,
              "ingest 42 generated reports", r.stdout + r.stderr)

        r = run(["--db", db, "trends", "--by", "org,domain", "--period",
                 "week", "--since", "2026-01-26", "--format", "json"])
        rows = json.loads(r.stdout) if r.returncode == 0 else []
        ms = [x for x in rows
              if x["organization_name"] == "Microsoft Corporation"]
        check(len(rows) == 3 and len(ms) == 1
              and ms[0]["successful"] == 3500 and ms[0]["failed"] == 0,
              "trends: Microsoft's sts and tlsa sessions counted once",
              r.stdout + r.stderr)
        r = run(["--db", db, "trends", "--by", "nope"])
        check(r.returncode == 2 and "unknown dimension" in r.stderr,
              "trends: bad --by is a usage error", r.stderr)

        r = run(["--db", db, "alerts", "--now", "2026-02-02", "--format",
                 "json", "--fail-on-alert"])
        alerts = json.loads(r.stdout) if r.stdout.startswith("[") else []
        kinds = sorted((a["kind"], a.get("policy_domain",
                                         a.get("organization_name")))
                       for a in alerts)
        check(r.returncode == 1 and kinds == [
            ("drop", "Google Inc."), ("drop", "example.com"),
            ("new-type", "example.com")],
            "alerts: drop of the domain and the sender, new type; "
            "--fail-on-alert exits 1", "%d %s" % (r.returncode, kinds))
        r = run(["--db", db, "alerts", "--now", "2026-01-27",
                 "--fail-on-alert"])
        check(r.returncode == 0 and "0 alerts, 0 open" in r.stdout,
              "alerts: nothing before the drop, exit 0", r.stdout)

        aconf = os.path.join(tmp, "a.conf")
        with open(aconf, "w") as f:
            f.write("[alerts]\nthreshold = 8\nmin_sessions = 10\n")
        os.chmod(aconf, 0o600)
        r = run(["--db", db, "--config", aconf, "alerts", "--now",
                 "2026-02-02", "--format", "json"])
        alerts = json.loads(r.stdout) if r.stdout.startswith("[") else []
        check(r.returncode == 0 and [a["kind"] for a in alerts] ==
              ["drop", "new-type"] and alerts[0]["scope"] == "sender",
              "alerts: [alerts] threshold = 8 keeps only the sender's "
              "10-point drop", r.stdout + r.stderr)
        r = run(["--db", db, "--config", aconf, "alerts", "--now",
                 "2026-02-02", "--threshold", "5", "--format", "json"])
        check(r.returncode == 0 and len(json.loads(r.stdout)) == 3,
              "alerts: --threshold overrides the configuration", r.stdout)
        with open(aconf, "w") as f:
            f.write("[alerts]\nthreshhold = 8\n")
        r = run(["--db", db, "--config", aconf, "alerts"])
        check(r.returncode == 2 and "threshhold" in r.stderr,
              "alerts: a misspelt [alerts] key is refused", r.stderr)

        out = os.path.join(tmp, "summary.eml")
        r = run(["--db", db, "summary", "--week", "2026-W05", "-o", out])
        check(r.returncode == 0 and os.path.exists(out),
              "summary -o FILE", r.stderr)
        if os.path.exists(out):
            with open(out, "rb") as f:
                check_message(f.read(), "file")

        from aiosmtpd.controller import Controller
        sink = Sink()
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        conf = os.path.join(tmp, "c.conf")
        with open(conf, "w") as f:
            f.write("[summary]\nfrom = tlsrpt@example.org\n"
                    "to = a@example.org, b@example.org\n"
                    "smtp_url = smtp://127.0.0.1:%d\nstarttls = no\n" % port)
        os.chmod(conf, 0o600)
        r = run(["--db", db, "--config", conf, "summary", "--week",
                 "2026-W05", "--send"])
        check(r.returncode == 0, "summary --send exits 0", r.stderr)
        check("sent to a@example.org, b@example.org via smtp://127.0.0.1:%d"
              % port in r.stdout, "summary --send says where it sent",
              r.stdout)
        for _ in range(50):
            if sink.messages:
                break
            time.sleep(0.1)
        check(len(sink.messages) == 1, "the SMTP server received it")
        if sink.messages:
            mail_from, rcpt, raw = sink.messages[0]
            check(mail_from == "tlsrpt@example.org"
                  and rcpt == ["a@example.org", "b@example.org"],
                  "envelope sender and both recipients", str(rcpt))
            msg = check_message(raw, "smtp")
            check(str(msg["To"]).replace(" ", "") ==
                  "a@example.org,b@example.org", "To header", msg["To"])

        # The default requires STARTTLS, which this server lacks.
        with open(conf, "w") as f:
            f.write("[summary]\nfrom = tlsrpt@example.org\n"
                    "to = a@example.org\n"
                    "smtp_url = smtp://127.0.0.1:%d\n" % port)
        r = run(["--db", db, "--config", conf, "summary", "--week",
                 "2026-W05", "--send"])
        check(r.returncode == 3 and len(sink.messages) == 1
              and "smtp://127.0.0.1" in r.stderr,
              "STARTTLS required by default: refused, nothing sent",
              "%d %s" % (r.returncode, r.stderr))
        r = run(["--db", db, "--config", conf, "summary", "--send", "-o",
                 out])
        check(r.returncode == 2, "summary: -o and --send together is a "
              "usage error")

        # STARTTLS (required, the default) with AUTH, against a server
        # that insists on both; the CA is the server's own certificate.
        import ssl
        from aiosmtpd.smtp import AuthResult
        key, cert = make_cert(tmp)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        logins = []

        def authenticator(server, session, envelope, mechanism, data):
            logins.append((mechanism, data.login, data.password))
            return AuthResult(success=data.login == b"tlsrpt"
                              and data.password == b"s3cret")

        tls_sink = Sink()
        tport = free_port()
        tls_controller = Controller(tls_sink, hostname="127.0.0.1",
                                    port=tport, tls_context=ctx,
                                    require_starttls=True,
                                    auth_required=True,
                                    authenticator=authenticator)
        tls_controller.start()
        try:
            pw = os.path.join(tmp, "smtp.pass")
            with open(pw, "w") as f:
                f.write("s3cret\n")
            os.chmod(pw, 0o600)
            with open(conf, "w") as f:
                f.write("[summary]\nfrom = tlsrpt@example.org\n"
                        "to = a@example.org\n"
                        "smtp_url = smtp://127.0.0.1:%d\n"
                        "username = tlsrpt\npassword_file = %s\n"
                        "ca_file = %s\n" % (tport, pw, cert))
            r = run(["--db", db, "--config", conf, "summary", "--week",
                     "2026-W05", "--send"])
            for _ in range(50):
                if tls_sink.messages:
                    break
                time.sleep(0.1)
            check(r.returncode == 0 and len(tls_sink.messages) == 1
                  and logins and logins[-1][1:] == (b"tlsrpt", b"s3cret"),
                  "STARTTLS and AUTH: sent", r.stderr + str(logins))
            if tls_sink.messages:
                check_message(tls_sink.messages[0][2], "starttls")
            # Without the CA the certificate is not trusted: refused.
            with open(conf, "w") as f:
                f.write("[summary]\nfrom = tlsrpt@example.org\n"
                        "to = a@example.org\n"
                        "smtp_url = smtp://127.0.0.1:%d\n"
                        "username = tlsrpt\npassword_file = %s\n"
                        % (tport, pw))
            r = run(["--db", db, "--config", conf, "summary", "--week",
                     "2026-W05", "--send"])
            check(r.returncode == 3 and len(tls_sink.messages) == 1,
                  "an untrusted server certificate is refused",
                  "%d %s" % (r.returncode, r.stderr))
        finally:
            tls_controller.stop()

        # smtps://: TLS from the first byte.
        smtps_sink = Sink()
        sport = free_port()
        smtps_controller = Controller(smtps_sink, hostname="127.0.0.1",
                                      port=sport, ssl_context=ctx)
        smtps_controller.start()
        try:
            with open(conf, "w") as f:
                f.write("[summary]\nfrom = tlsrpt@example.org\n"
                        "to = a@example.org\n"
                        "smtp_url = smtps://127.0.0.1:%d\nca_file = %s\n"
                        % (sport, cert))
            r = run(["--db", db, "--config", conf, "summary", "--week",
                     "2026-W05", "--send"])
            for _ in range(50):
                if smtps_sink.messages:
                    break
                time.sleep(0.1)
            check(r.returncode == 0 and len(smtps_sink.messages) == 1,
                  "smtps:// sent", r.stderr)
        finally:
            smtps_controller.stop()
    finally:
        if controller is not None:
            controller.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(results))
    for i, (ok, what, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
        if not ok and detail:
            for line in str(detail).splitlines()[:20]:
                print("# " + line)
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
