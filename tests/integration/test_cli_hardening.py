#!/usr/bin/env python3
"""Hardening of the command line (TAP output), issue 9 items 6, 7, 8, 13, 16.

Through the binary ($TRPT_BINARY), on databases made for the test:
- read commands refuse a missing database and work on a read-only one
  (run as nobody when we are root: root writes any file), with the same
  figures as on a writable copy; `trends | head` ends quietly;
- export -o and summary -o write a FIFO straight and never follow a
  symlink planted where the old code put its temporary file;
- a report stored with the year 9999 (before dates were checked) does not
  stretch the default range of trends and export daily;
- control characters from reports never reach the terminal or split a
  line: stats, trends, alerts, ingest -v, rejection lines;
- a password in smtp_url never appears in an error message.
"""

import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
from tap import done, equal, ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
ROOT = os.environ.get("TRPT_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "reports")
ESC = "\x1b"


def run(db, *args, prefix=(), stdin=None, stdout=subprocess.PIPE):
    p = subprocess.run(list(prefix) + [BINARY, "--db", db] + list(args),
                       stdout=stdout, stderr=subprocess.PIPE, stdin=stdin,
                       timeout=120)
    out = p.stdout.decode("utf-8", "replace") if p.stdout else ""
    return p.returncode, out, p.stderr.decode("utf-8", "replace")


def unprivileged():
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def report(org, rid, day="2026-11-20", domain="example.com", mx="mx.example.com",
           failed=3):
    return json.dumps({
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z",
                       "end-datetime": day + "T23:59:59Z"},
        "contact-info": "tls@example.net", "report-id": rid,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": domain,
                       "mx-host": [mx]},
            "summary": {"total-successful-session-count": 100,
                        "total-failure-session-count": failed},
            "failure-details": [{
                "result-type": "certificate-expired",
                "receiving-mx-hostname": mx, "failed-session-count": failed,
            }] if failed else []}]}).encode()


def test_missing_database(tmp):
    # SQLite only: a missing file (a PostgreSQL database is created by its
    # administrator, never by the collector).
    db = os.path.join(tmp, "missing.db")
    for args in (["stats"], ["trends"], ["alerts"], ["export", "policies"],
                 ["export", "daily"]):
        rc, out, err = run(db, *args)
        ok(rc == 2 and "no database at " + db in err,
           "%s on a missing database: exit 2, \"no database at PATH\""
           % " ".join(args), (rc, err))
    ok(not os.path.exists(db), "and no database was created")


# Read commands that write a file (-o): the file, with what changes from
# one run to the next (date, message id, MIME boundary) taken out.
FILE_COMMANDS = (
    ("summary", ["summary", "--week", "2026-W47", "-o"]),
    ("report html", ["report", "html", "--since", "2026-11-01", "--until",
                     "2026-11-30", "-o"]),
)


def normalized(text):
    text = re.sub(r"(?m)^(Date|Message-ID): .*$", "", text)
    return re.sub(r"_\d{9,}_\d+", "_X", text)


def test_read_only(tmp):
    """Trends, alerts, summary, exports and report html only read (the
    rollups are written with the reports): on a database file of mode 0444
    in a directory of mode 0555, run by another user, each gives what it
    gives on a writable copy, and nothing is written beside the file.
    SQLite only: a read-only file in a read-only directory."""
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro)
    db = os.path.join(ro, "t.db")
    rc, _, err = run(db, "-q", "ingest", EXAMPLES)
    equal(rc, 0, "ingest the examples")
    copy = os.path.join(tmp, "copy.db")
    shutil.copy(db, copy)
    outdir = os.path.join(tmp, "out")
    os.mkdir(outdir)
    os.chmod(outdir, 0o777)
    stdout_commands = (["stats"], ["trends", "--format", "csv"],
                       ["trends", "--by", "type", "--period", "week"],
                       ["alerts", "--format", "json"], ["export", "daily"],
                       ["export", "policies"], ["export", "failures"],
                       ["export", "reports"])
    want = {}
    for args in stdout_commands:
        want[" ".join(args)] = run(copy, *args)[1]
    for name, args in FILE_COMMANDS:
        path = os.path.join(outdir, "want-" + name.replace(" ", "-"))
        rc, _, err = run(copy, *(args + [path]))
        equal(rc, 0, "%s on the writable copy" % name)
        with open(path, encoding="utf-8") as f:
            want[name] = normalized(f.read())
    os.chmod(db, 0o444)
    os.chmod(ro, 0o555)
    os.chmod(tmp, 0o755)
    try:
        for args in stdout_commands:
            rc, out, err = run(db, *args, prefix=unprivileged())
            ok(rc == 0 and out != "",
               "%s works on a read-only database" % " ".join(args),
               (rc, err))
            key = " ".join(args)
            ok(out == want[key], "%s: the same output as on a "
               "writable copy" % key, (out[:300], want[key][:300]))
        for name, args in FILE_COMMANDS:
            path = os.path.join(outdir, "ro-" + name.replace(" ", "-"))
            rc, _, err = run(db, *(args + [path]), prefix=unprivileged())
            ok(rc == 0, "%s works on a read-only database" % name,
               (rc, err))
            got = ""
            if rc == 0:
                with open(path, encoding="utf-8") as f:
                    got = normalized(f.read())
            ok(got == want[name] and len(got) > 1000,
               "%s: the same output as on a writable copy" % name,
               (got[:300], want[name][:300]))
        ok(sorted(os.listdir(ro)) == ["t.db"],
           "nothing was written beside it", os.listdir(ro))
    finally:
        os.chmod(ro, 0o755)
        os.chmod(db, 0o644)


def test_closed_pipe(tmp):
    db = testdb.new(tmp, "pipe")
    run(db, "-q", "ingest", EXAMPLES)
    for args in (["trends"], ["trends", "--format", "csv"],
                 ["export", "failures"], ["alerts"], ["stats"]):
        r, w = os.pipe()
        os.close(r)  # the reader is gone before anything is written
        p = subprocess.run([BINARY, "--db", db] + args, stdout=w,
                           stderr=subprocess.PIPE, timeout=60)
        os.close(w)
        ok(p.returncode == 0 and p.stderr == b"",
           "%s into a closed pipe ends quietly with 0" % " ".join(args),
           (p.returncode, p.stderr))


def fifo_reader(path, into):
    with open(path, "rb") as f:
        into.append(f.read())


def test_output_files(tmp):
    db = testdb.new(tmp, "out")
    run(db, "-q", "ingest", EXAMPLES)
    want = run(db, "export", "policies")[1].encode()
    # A FIFO is written straight, never replaced by a regular file.
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    got = []
    t = threading.Thread(target=fifo_reader, args=(fifo, got))
    t.start()
    rc, _, err = run(db, "export", "policies", "-o", fifo)
    t.join(30)
    ok(rc == 0 and got == [want], "export -o FIFO writes into the FIFO",
       (rc, err, got[:1]))
    ok(stat.S_ISFIFO(os.stat(fifo).st_mode), "and the FIFO stays a FIFO")
    got = []
    t = threading.Thread(target=fifo_reader, args=(fifo, got))
    t.start()
    rc, _, err = run(db, "summary", "--week", "2026-W47", "-o", fifo)
    t.join(30)
    ok(rc == 0 and got and got[0].startswith(b"From:") or
       (got and b"Subject:" in got[0]), "summary -o FIFO writes into it",
       (rc, err, got[:1]))
    ok(stat.S_ISFIFO(os.stat(fifo).st_mode), "and it stays a FIFO")
    # Symlinks planted at every name the old code could pick
    # (OUTPUT.tmp.PID) point at a victim that must not change.
    out = os.path.join(tmp, "policies.csv")
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("untouched\n")
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    for pid in range(last + 1, last + 400):
        os.symlink(victim, "%s.tmp.%d" % (out, pid))
    with open(out, "w") as f:
        f.write("old\n")
    os.chmod(out, 0o640)
    rc, _, err = run(db, "export", "policies", "-o", out)
    with open(victim) as f:
        ok(rc == 0 and f.read() == "untouched\n",
           "export -o follows no planted symlink", (rc, err))
    with open(out, "rb") as f:
        ok(f.read() == want, "the output is replaced whole")
    st = os.lstat(out)
    ok(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640,
       "a regular file, with the mode of the file it replaced",
       oct(st.st_mode))
    leftovers = [n for n in os.listdir(tmp) if n.startswith(".policies")]
    equal(leftovers, [], "no temporary file is left behind")
    rc, _, err = run(db, "export", "policies", "-o", tmp)
    ok(rc == 3 and "is a directory" in err, "a directory is refused",
       (rc, err))


def add_bogus_report(db):
    """A report dated 9999-12-31 as a binary before the date check stored
    it (copied from a stored one, with its policies)."""
    con = testdb.connect(db)
    day = 2932896  # 9999-12-31
    cur = con.execute(
        "INSERT INTO reports (organization_name, report_id, contact_info,"
        " begin_ts, end_ts, day, raw_id, part, received_at, seen_count,"
        " last_seen_at, total_successful, total_failed)"
        " SELECT 'Bogus Org', 'year-9999', contact_info,"
        " CAST(? AS BIGINT) * 86400, CAST(? AS BIGINT) * 86400 + 86399, ?,"
        " raw_id, part, received_at, 1,"
        " last_seen_at, total_successful, total_failed FROM reports"
        " ORDER BY id LIMIT 1 RETURNING id", (day, day, day))
    rid = cur.fetchone()[0]
    con.execute(
        "INSERT INTO policies (report, idx, day, policy_type, policy_domain,"
        " policy_strings, mx_hosts, successful, failed, details_failed)"
        " SELECT ?, idx, ?, policy_type, 'bogus.example', policy_strings,"
        " mx_hosts, successful, failed, details_failed FROM policies"
        " WHERE report = (SELECT min(id) FROM reports)", (rid, day))
    # The rollups the store writes with a report (schema/rollup.c).
    for sql in (
            "INSERT INTO rollup_daily (domain, day, org, successful, failed,"
            " reports) SELECT 'bogus.example', ?, 'Bogus Org',"
            " sum(successful), sum(failed), 1 FROM policies"
            " WHERE report = ?",
            "INSERT INTO rollup_org_day (org, day, successful, failed)"
            " SELECT 'Bogus Org', ?, sum(successful), sum(failed)"
            " FROM policies WHERE report = ?",
            "INSERT INTO rollup_domain_day (domain, day, successful, failed)"
            " SELECT 'bogus.example', ?, sum(successful), sum(failed)"
            " FROM policies WHERE report = ?",
            "INSERT INTO rollup_domain_week (domain, week, successful,"
            " failed) SELECT 'bogus.example', (? + 3) / 7, sum(successful),"
            " sum(failed) FROM policies WHERE report = ?"):
        con.execute(sql, (day, rid))
    # rollup_weeks: the week's cell in its block of 32 (schema/weeks.h).
    s, f = con.execute("SELECT sum(successful), sum(failed) FROM policies"
                       " WHERE report = ?", (rid,)).fetchone()
    week = (day + 3) // 7
    con.execute("INSERT INTO rollup_weeks (domain, org, block, cells)"
                " VALUES ('bogus.example', 'Bogus Org', ?, ?)",
                (week >> 5, struct.pack(">Bqq", week & 31, int(s), int(f))))
    con.commit()
    con.close()


def test_implausible_dates(tmp):
    db = testdb.new(tmp, "dates")
    run(db, "-q", "ingest", EXAMPLES)
    path = os.path.join(tmp, "y9999.json")
    with open(path, "wb") as f:
        f.write(report("Far Future", "f1", day="9999-12-31"))
    rc, out, err = run(db, "ingest", path)
    ok(rc == 1 and "more than 3 days in the future" in err,
       "a report dated 9999 is rejected with the reason", (rc, err))
    add_bogus_report(db)
    rc, out, err = run(db, "trends")
    ok(rc == 0 and len(out) < 20000 and "Bogus Org" not in out,
       "trends: a stored report dated 9999 does not stretch the default "
       "range", (rc, err, len(out)))
    rc, out, err = run(db, "export", "daily")
    ok(rc == 0 and len(out.splitlines()) < 50,
       "export daily: neither", (rc, err, len(out.splitlines())))
    rc, out, err = run(db, "trends", "--since", "9999-12-30", "--format",
                       "csv")
    ok(rc == 0 and "Bogus Org" in out,
       "asked for, the day still shows", (rc, err, out[:200]))


def test_control_characters(tmp):
    db = testdb.new(tmp, "esc")
    evil_org = "Evil" + ESC + "]0;pwned\x07\nforged line" + ESC + "[2J"
    evil_mx = "mx" + ESC + "[31m.example.com\r\n"
    inputs = os.path.join(tmp, "esc")
    os.mkdir(inputs)
    for n, day in enumerate(("2026-11-%02d" % d for d in range(1, 29))):
        with open(os.path.join(inputs, "r%02d.json" % n), "wb") as f:
            f.write(report(evil_org, "e%d" % n, day=day, mx=evil_mx,
                           failed=0 if n < 20 else 60))
    bad = os.path.join(inputs, "bad\nname" + ESC + "[1m.json")
    with open(bad, "wb") as f:
        f.write(b'{"organization-name": "x' + ESC.encode() +
                b'[5m", "report-id": 7}')
    rc, out, err = run(db, "-v", "ingest", inputs)
    outputs = {"ingest -v (stderr)": err}
    outputs["stats"] = run(db, "stats")[1]
    outputs["trends"] = run(db, "trends", "--by", "org,mx")[1]
    outputs["alerts"] = run(db, "alerts", "--since", "2026-11-01")[1]
    for name, text in outputs.items():
        ok(ESC not in text and "\x07" not in text and "\r" not in text,
           "%s: no control character reaches the terminal" % name,
           repr(text[:400]))
        ok(not any(line.startswith("forged line")
                   for line in text.splitlines()),
           "%s: a newline in a field starts no line of its own" % name)
    ok("Evil\\x1b]0;pwned\\x07\\nforged" in outputs["stats"],
       "stats shows the name escaped", repr(outputs["stats"][:300]))
    ok("bad\\nname\\x1b[1m.json: rejected" in err,
       "the rejection line names the file escaped", repr(err[-400:]))


def test_redacted_url(tmp):
    db = testdb.new(tmp, "mail")
    run(db, "-q", "ingest", EXAMPLES)
    conf = os.path.join(tmp, "mail.conf")
    with open(conf, "w") as f:
        f.write("[summary]\nfrom = a@example.com\nto = b@example.com\n"
                "smtp_url = smtp://user:s3cr3t-pw@127.0.0.1:1/\n")
    os.chmod(conf, 0o600)
    rc, out, err = run(db, "--config", conf, "summary", "--week",
                       "2026-W47", "--send")
    ok(rc != 0 and "smtp://user:***@127.0.0.1:1/" in err,
       "a failed send names the relay with its password hidden", (rc, err))
    ok("s3cr3t-pw" not in err + out, "the password appears nowhere")


def main():
    if not BINARY or not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-cli-hard-")
    os.chmod(tmp, 0o755)  # the read-only test runs a command as nobody
    try:
        for t in (test_missing_database, test_read_only, test_closed_pipe,
                  test_output_files, test_implausible_dates,
                  test_control_characters, test_redacted_url):
            sub = os.path.join(tmp, t.__name__)
            os.mkdir(sub)
            t(sub)
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        import traceback
        ok(False, "test crashed: %r" % e, traceback.format_exc())
    finally:
        os.chmod(tmp, 0o755)
        shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())
