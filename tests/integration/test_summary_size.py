#!/usr/bin/python3
"""The weekly summary for 53 domains (tests/helpers/manydomains.py),
parsed back: both parts, the overview of every domain first, details only
for the domains needing action, each cause and fix once, the senders'
reason codes, and the size cap with its note.  Prints the message's size
as a TAP comment.  Prints TAP."""

import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import manydomains  # noqa: E402
import tap  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY", "tlsrpt-collector")


def run(args):
    return subprocess.run([BINARY] + args, capture_output=True, text=True,
                          timeout=120)


def parts(path):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    got = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    return raw, msg, got.get("text/plain", ""), got.get("text/html", "")


def terminal(db):
    """trends on a terminal and in a pipe."""
    import pty
    r = run(["--db", db, "trends", "--by", "mx", "--domain", "d40.example",
             "--since", "2026-01-12"])
    heads = [x for x in r.stdout.splitlines() if x and not x[0].isspace()]
    failed = [int(re.search(r"(\d+) failed,", x).group(1)) for x in
              r.stdout.splitlines() if "sessions," in x]
    tap.ok(r.returncode == 0 and heads[:1] == ["mx2.d40.example"] and
           failed[:2] == sorted(failed, reverse=True)[:2],
           "trends --by mx: the most failed MX host first", heads)
    tap.ok("\x1b" not in r.stdout, "trends: no colour into a pipe")
    r = run(["--db", db, "trends", "--by", "domain", "--domain",
             "d40.example", "--since", "2026-01-19"])
    spark = r.stdout.splitlines()[1].split()[0] if r.returncode == 0 else ""
    tap.ok(spark.startswith("\u2587") and spark.endswith("\u2581") and
           "74.76%..99.51%" in r.stdout,
           "trends: the sparkline on the series' scale shows the drop",
           r.stdout[:300])
    # Up to 2026-02-19: the 30 days from 2026-01-21 (the data begin on
    # 2026-01-12).
    r = run(["--db", db, "trends", "--by", "domain", "--until",
             "2026-02-20"])
    days = re.findall(r"^  (\d{4}-\d\d-\d\d) ", r.stdout, re.M)
    tap.ok(r.returncode == 0 and days and min(days) == "2026-01-21",
           "trends: the table covers the last 30 days by default", days[:3])
    r = run(["--db", db, "trends", "--by", "domain", "--until", "2026-01-20",
             "--format", "csv"])
    tap.ok(r.stdout.count("\n") > 53 * 5,
           "trends --format csv: everything by default")
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm")
    env.pop("NO_COLOR", None)
    p = subprocess.run([BINARY, "--db", db, "trends", "--by", "domain",
                        "--domain", "d40.example", "--since", "2026-01-26"],
                       stdout=slave, stderr=subprocess.PIPE, env=env,
                       timeout=60)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    tap.ok(p.returncode == 0 and b"\x1b[31m" in out,
           "trends: colour on a terminal", out[:200])
    env["NO_COLOR"] = "1"
    master, slave = pty.openpty()
    subprocess.run([BINARY, "--db", db, "trends", "--domain", "d40.example",
                    "--since", "2026-01-26"], stdout=slave, env=env,
                   timeout=60)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    tap.ok(b"\x1b" not in out and b"d40.example" in out,
           "trends: NO_COLOR turns colour off")


def main():
    tmp = tempfile.mkdtemp(prefix="trpt-summary-")
    try:
        db = testdb.new(tmp, "t")
        rep = os.path.join(tmp, "reports")
        os.mkdir(rep)
        n = manydomains.write(rep)
        r = run(["--db", db, "ingest", rep])
        tap.ok(r.returncode == 0 and "ingested %d" % n in r.stdout,
               "ingest three weeks of 53 domains", r.stdout + r.stderr)
        out = os.path.join(tmp, "s.eml")
        r = run(["--db", db, "summary", "--week", "2026-W05", "-o", out])
        tap.ok(r.returncode == 0, "summary -o", r.stderr)
        raw, msg, text, html = parts(out)
        print("# 53 domains: message %d bytes, text part %d bytes (%d "
              "lines), HTML part %d bytes" % (len(raw), len(text.encode()),
                                              text.count("\n"),
                                              len(html.encode())))
        tap.ok(msg.get_content_type() == "multipart/alternative" and text
               and html, "both parts decode")
        rows = re.findall(r"^([! ]) (d\d\d\.example) ", text, re.M)
        tap.equal(len(rows), 53, "text: one overview row per domain")
        first_detail = text.find("\n== ")
        tap.ok(0 < text.find("DOMAIN ") < first_detail and
               all(text.find(" %s " % d) < first_detail for _, d in rows),
               "text: the overview comes before any detail")
        action = [d for mark, d in rows if mark == "!"]
        tap.ok(rows[0][0] == "!" and rows[-1][0] == " " and
               len(action) == 40,
               "text: the 40 domains needing action first", rows[:3])
        detailed = re.findall(r"^== (d\d\d\.example) ==$", text, re.M)
        m = re.search(r"(\d+) more domains? with failures or alerts (?:is|are)"
                      r" left out to keep this mail short: ([^\n]*)\.", text)
        left = m.group(2).split() if m else []
        tap.ok(m is not None and detailed and
               detailed + left == action,
               "text: details for the first action domains, the others "
               "named in the note", "%d detailed, %s" % (len(detailed),
                                                        m and m.group(0)))
        tap.ok(all(not re.search(r"^== %s ==$" % d, text, re.M)
                   for mark, d in rows if mark == " "),
               "text: no details for a domain without failures or alerts")
        tap.equal(text.count("Probable cause:"), 5,
                  "text: each of the 5 failure types' cause once")
        tap.equal(html.count("Probable cause:"), 5,
                  "html: each cause once")
        tap.ok("x509: certificate is valid for old.example.org, not "
               "mx1.d40.example" in text and "<code>x509: certificate is "
               "valid for old.example.org" in html,
               "the senders' failure-reason-codes in both parts")
        trs = re.findall(r"<tr><td[^>]*>(?:<b[^>]*>)?(d\d\d\.example)", html)
        tap.equal(trs, [d for _, d in rows],
                  "html: the same overview rows in the same order")
        tap.ok(not any(x in html.lower() for x in
                       ("<svg", "<img", "<script", "<link", "<style")),
               "html: tables and inline styles only")
        tap.ok(len(raw) < 320 * 1024,
               "the message stays under 320 kB (was 481 kB before the "
               "rebuild)", len(raw))
        r = run(["--db", db, "summary", "--week", "2026-W05", "--domain",
                 "d02.example", "-o", out])
        raw, msg, text, html = parts(out)
        tap.ok(r.returncode == 0 and "0 alerts" in str(msg["Subject"]) and
               "d40.example" not in text,
               "one domain without failures: no other domain's alert",
               str(msg["Subject"]))
        terminal(db)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
