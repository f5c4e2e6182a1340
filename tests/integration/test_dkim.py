#!/usr/bin/env python3
"""Integration test of DKIM verification (RFC 8460 §3) through the binary.

Keys are made at test time (openssl), published in a root zone served by
a real nsd on a free loopback port ([dkim] nameserver points the collector
at it), and report e-mails are signed at test time with dkimpy.  Each case
is ingested with [dkim] require = warn and require = yes, and the stored
verdict (reports, raw_inputs) or the quarantine reason is checked: a valid
signature, s=tlsrpt keys, a changed body, a changed signed header, an l=
signature, a wrong d=, a revoked key, a missing key, no signature, a DNS
server that does not answer (the input waits in quarantine and reprocess
stores it once the key can be fetched), Mail.ru's corp.mail.ru vs mail.ru,
a d= that is a public suffix; the release of a refused report with
reprocess --accept-unsigned; report show, stats and export reports; the
key cache; and the real corpus mails, whose keys cannot be fetched here.
"""

import csv
import glob
import http.client
import io
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import dkimlab  # noqa: E402
import mkcerts  # noqa: E402
import serveproc  # noqa: E402
from tap import done, equal, ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
CORPUS = os.environ.get("TRPT_CORPUS", "")

GOOGLE = ("Google Inc.", "smtp-tls-reporting@google.com", "google.com")


def run(db, conf, *args):
    return subprocess.run([BINARY, "--db", db, "--config", conf, *args],
                          capture_output=True, text=True, timeout=120)


def write_conf(path, require, port, timeout=3):
    with open(path, "w") as f:
        f.write("[dkim]\nrequire = %s\nnameserver = 127.0.0.1:%d\n"
                "timeout = %d\n" % (require, port, timeout))
    os.chmod(path, 0o600)


def one(db, sql, *args):
    con = testdb.connect(db)
    try:
        row = con.execute(sql, args).fetchone()
    finally:
        con.close()
    return row


def build_cases(tmp, zone):
    """Keys, zone records and signed mails: [(name, path, report_id)]."""
    g_pem, g_pub = dkimlab.new_key(tmp, "google", 2048)  # TXT > 255 bytes
    e_pem, e_pub = dkimlab.new_key(tmp, "evil", 1024)
    m_pem, m_pub = dkimlab.new_key(tmp, "mailru", 1024)
    zone.key("sel", "google.com", g_pub)
    zone.key("tr", "google.com", g_pub, extra="s=tlsrpt; ")
    zone.key("star", "google.com", g_pub, extra="s=*; ")
    zone.txt("revoked._domainkey.google.com", "v=DKIM1; k=rsa; p=")
    zone.key("sel", "evil.example", e_pub)
    zone.key("sel", "corp.mail.ru", m_pub)
    zone.key("sel", "mail.ru", m_pub)
    zone.key("sel", "ru", m_pub)

    cases = []

    def add(name, data):
        path = os.path.join(tmp, name + ".eml")
        with open(path, "wb") as f:
            f.write(data)
        cases.append(name)

    def google(rid):
        return dkimlab.report_mail(GOOGLE[0], rid, GOOGLE[1], GOOGLE[2],
                                   "example.com")

    add("valid", dkimlab.sign(google("valid"), "sel", "google.com", g_pem))
    add("tlsrpt-key", dkimlab.sign(google("tlsrpt-key"), "tr", "google.com",
                                   g_pem))
    add("star-key", dkimlab.sign(google("star-key"), "star", "google.com",
                                 g_pem))
    signed = dkimlab.sign(google("body"), "sel", "google.com", g_pem)
    add("body", signed.replace(b"This is an aggregate TLS report",
                               b"This is an aggregate TLS REPORT"))
    signed = dkimlab.sign(google("header"), "sel", "google.com", g_pem)
    add("header", signed.replace(b"Date: Sat, 21 Nov 2026 01:02:03",
                                 b"Date: Sun, 22 Nov 2026 01:02:03"))
    add("l-tag", dkimlab.sign(google("l-tag"), "sel", "google.com", g_pem,
                              length=True))
    add("wrong-d", dkimlab.sign(google("wrong-d"), "sel", "evil.example",
                                e_pem))
    add("revoked", dkimlab.sign(google("revoked"), "revoked", "google.com",
                                g_pem))
    add("missing-key", dkimlab.sign(google("missing-key"), "gone",
                                    "google.com", g_pem))
    add("unsigned", google("unsigned"))
    # Mail.ru: TLS-Report-Submitter mail.ru, contact-info and d= corp.mail.ru
    add("mailru", dkimlab.sign(dkimlab.report_mail(
        "Mail.ru", "mailru", "smtp-tls-reporting@corp.mail.ru", "mail.ru",
        "example.org"), "sel", "corp.mail.ru", m_pem))
    # The same relation with nothing but the submitter: d= is its child
    add("child", dkimlab.sign(dkimlab.report_mail(
        "Mail.ru", "child", "https://mail.ru/tlsrpt", "mail.ru",
        "example.org"), "sel", "corp.mail.ru", m_pem))
    # ... and d= the parent of the submitter
    add("parent", dkimlab.sign(dkimlab.report_mail(
        "Mail.ru", "parent", "https://corp.mail.ru/tlsrpt", "corp.mail.ru",
        "example.org"), "sel", "mail.ru", m_pem))
    # d= a public suffix is the parent of nothing
    add("suffix", dkimlab.sign(dkimlab.report_mail(
        "Mail.ru", "suffix", "https://mail.ru/tlsrpt", "mail.ru",
        "example.org"), "sel", "ru", m_pem))
    # Five reports signed with one key, for the key cache
    for i in range(5):
        add("cache%d" % i, dkimlab.sign(google("cache%d" % i), "sel",
                                        "google.com", g_pem))
    return cases


# case -> (result, aligned, reason in quarantine under yes, or None: stored)
EXPECT = {
    "valid": ("pass", "same", None),
    "tlsrpt-key": ("pass", "same", None),
    "star-key": ("pass", "same", None),
    "body": ("fail", "same", "DKIM: body hash mismatch (d=google.com)"),
    "header": ("fail", "same", "DKIM: signature does not verify"),
    "l-tag": ("fail", "same", "DKIM: l= body length limit"),
    "wrong-d": ("pass", "no",
                "DKIM: d=evil.example not aligned with google.com"),
    "revoked": ("fail", "same",
                "DKIM: key revoked (empty p=) at revoked._domainkey."
                "google.com"),
    "missing-key": ("fail", "same",
                    "DKIM: key unavailable: no key at gone._domainkey."
                    "google.com"),
    "unsigned": ("none", None, "DKIM: no signature"),
    "mailru": ("pass", "same", None),
    "child": ("pass", "child", None),
    "parent": ("pass", "parent", None),
    "suffix": ("pass", "no", "DKIM: d=ru not aligned with mail.ru"),
}


def check_cases(tmp, port, require, table):
    db = testdb.new(tmp, require)
    conf = os.path.join(tmp, require + ".conf")
    write_conf(conf, require, port)
    for name, (result, aligned, reason) in EXPECT.items():
        path = os.path.join(tmp, name + ".eml")
        r = run(db, conf, "ingest", path)
        stored = one(db, "SELECT dkim, dkim_aligned, dkim_reason,"
                     " dkim_domain FROM reports WHERE report_id = ?", name)
        quar = one(db, "SELECT reason FROM quarantine WHERE source = ?",
                   path)
        if require == "yes" and reason is not None:
            ok(stored is None and quar is not None and
               quar[0].startswith(reason) and r.returncode == 1,
               "%s, require = yes: quarantined with \"%s\"" % (name, reason),
               "stored %r, quarantine %r, rc %d, %s" %
               (stored, quar, r.returncode, r.stderr))
            table[name][require] = "quarantined: " + (quar or ["?"])[0]
        else:
            ok(stored is not None and stored[0] == result and
               stored[1] == aligned and quar is None and r.returncode == 0,
               "%s, require = %s: stored, dkim %s, aligned %s" %
               (name, require, result, aligned),
               "stored %r, quarantine %r, rc %d, %s" %
               (stored, quar, r.returncode, r.stderr))
            table[name][require] = "stored: %s%s%s" % (
                stored[0] if stored else "?",
                ", aligned " + str(stored[1]) if stored and stored[1] else "",
                " (" + stored[2] + ")" if stored and stored[2] else "")
            if reason is not None and stored is not None:
                ok(stored[2] is not None and stored[2].startswith(reason),
                   "%s, require = warn: the reason is kept with the report"
                   % name, stored[2])
    return db, conf


def test_report_show_and_exports(db, conf):
    rid = one(db, "SELECT id FROM reports WHERE report_id = 'tlsrpt-key'")[0]
    r = run(db, conf, "report", "show", str(rid))
    ok(r.returncode == 0 and
       "pass d=google.com s=tr; aligned: same; key service: s=tlsrpt"
       in r.stdout, "report show: DKIM result, d=, s=, alignment and the "
       "key's s=tlsrpt", r.stdout + r.stderr)
    rid = one(db, "SELECT id FROM reports WHERE report_id = 'star-key'")[0]
    r = run(db, conf, "report", "show", str(rid))
    ok("key service: s=*" in r.stdout, "report show: a key with s=*",
       r.stdout)
    equal(one(db, "SELECT i.dkim_key_service FROM raw_inputs i JOIN reports r"
              " ON r.raw_id = i.id WHERE r.report_id = 'tlsrpt-key'")[0],
          "tlsrpt", "the raw input records the key's service type")
    r = run(db, conf, "report", "show", "999999")
    equal(r.returncode, 2, "report show of a missing id: exit 2")
    r = run(db, conf, "export", "reports")
    rows = {row["report_id"]: row
            for row in csv.DictReader(io.StringIO(r.stdout))}
    ok(rows.get("wrong-d", {}).get("dkim") == "pass" and
       rows["wrong-d"]["dkim_domain"] == "evil.example" and
       rows["wrong-d"]["dkim_aligned"] == "no" and
       rows["body"]["dkim"] == "fail" and
       rows["body"]["dkim_reason"].startswith("DKIM: body hash mismatch"),
       "export reports: dkim, dkim_domain, dkim_aligned, dkim_reason",
       r.stdout[:2000])
    r = run(db, conf, "stats")
    ok("DKIM of stored reports:" in r.stdout and "fail" in r.stdout,
       "stats: a DKIM line", r.stdout)


def test_release(db, conf):
    """reprocess --accept-unsigned ID stores a refused report, marked."""
    qid, = one(db, "SELECT id FROM quarantine WHERE reason ="
               " 'DKIM: no signature'")
    r = run(db, conf, "reprocess", "--accept-unsigned")
    equal(r.returncode, 2, "--accept-unsigned without ids: usage error")
    r = run(db, conf, "reprocess", str(qid))
    equal(r.returncode, 1, "plain reprocess keeps refusing it")
    r = run(db, conf, "reprocess", "--accept-unsigned", str(qid))
    row = one(db, "SELECT dkim, dkim_accepted, id FROM reports"
              " WHERE report_id = 'unsigned'")
    ok(r.returncode == 0 and row is not None and row[:2] == ("none", 1) and
       one(db, "SELECT count(*) FROM quarantine WHERE id = ?", qid)[0] == 0,
       "reprocess --accept-unsigned ID: stored with dkim none, released",
       "%r %s %s" % (row, r.stdout, r.stderr))
    if row:
        r = run(db, conf, "report", "show", str(row[2]))
        ok("stored by an operator" in r.stdout,
           "report show names the operator's release", r.stdout)
    others = one(db, "SELECT count(*) FROM quarantine")[0]
    ok(others >= 7, "the other refused inputs stay in quarantine (%d)"
       % others)


def test_dns_down(tmp, port, table):
    """A server that does not answer: the input waits, then is stored."""
    dead, socks = dkimlab.silent_server()
    try:
        for require in ("yes", "warn"):
            db = testdb.new(tmp, "down-" + require)
            conf = os.path.join(tmp, "down-" + require + ".conf")
            write_conf(conf, require, dead, timeout=1)
            path = os.path.join(tmp, "valid.eml")
            r = run(db, conf, "ingest", path)
            stored = one(db, "SELECT dkim, dkim_reason FROM reports")
            quar = one(db, "SELECT reason FROM quarantine")
            if require == "yes":
                ok(stored is None and quar is not None and
                   "no answer within 1000 ms" in quar[0] and
                   "temporary: kept, retried by reprocess" in quar[0],
                   "DNS down, require = yes: kept in quarantine, waiting",
                   "%r %r %s" % (stored, quar, r.stderr))
                table["dns-down"][require] = "waits in quarantine: " + (
                    quar or ["?"])[0]
                r = run(db, conf, "reprocess")
                ok(one(db, "SELECT count(*) FROM quarantine")[0] == 1 and
                   one(db, "SELECT count(*) FROM reports")[0] == 0,
                   "reprocess while DNS is still down: still waiting")
                write_conf(conf, require, port)
                r = run(db, conf, "reprocess")
                ok(r.returncode == 0 and
                   one(db, "SELECT dkim FROM reports")[0] == "pass" and
                   one(db, "SELECT count(*) FROM quarantine")[0] == 0,
                   "reprocess once the key can be fetched: stored, pass",
                   r.stdout + r.stderr)
            else:
                ok(stored is not None and stored[0] == "temperror" and
                   quar is None,
                   "DNS down, require = warn: stored with temperror",
                   "%r %r" % (stored, quar))
                table["dns-down"][require] = "stored: %s (%s)" % (
                    stored if stored else ("?", "?"))
    finally:
        for s in socks:
            s.close()


def test_cache(tmp, port):
    db = testdb.new(tmp, "cache")
    conf = os.path.join(tmp, "cache.conf")
    write_conf(conf, "yes", port)
    paths = [os.path.join(tmp, "cache%d.eml" % i) for i in range(5)]
    r = run(db, conf, "-v", "ingest", *paths)
    ok(r.returncode == 0 and
       "dkim: 5 e-mails verified, 5 key lookups, 4 from the cache, "
       "1 DNS queries" in r.stderr,
       "five mails signed with one key: one DNS query, the key cached",
       r.stderr)


def test_corpus(tmp, port, table):
    """The real corpus mails: their keys are not in our DNS."""
    files = sorted(glob.glob(os.path.join(CORPUS, "*", "*.eml")))
    signed = [f for f in files
              if b"dkim-signature" in open(f, "rb").read().lower()]
    if not ok(len(signed) >= 5, "the corpus has signed mails (%d)"
              % len(signed)):
        return
    for require in ("yes", "warn"):
        db = testdb.new(tmp, "corpus-" + require)
        conf = os.path.join(tmp, "corpus-" + require + ".conf")
        write_conf(conf, require, port)
        r = run(db, conf, "ingest", *signed)
        ok(r.returncode in (0, 1) and "Sanitizer" not in r.stderr,
           "corpus, require = %s: no crash" % require, r.stderr[-2000:])
        passed = one(db, "SELECT count(*) FROM reports WHERE dkim = 'pass'")
        equal(passed[0], 0, "corpus, require = %s: no false pass" % require)
        con = testdb.connect(db)
        reasons = [x[0] for x in con.execute(
            "SELECT reason FROM quarantine UNION ALL"
            " SELECT dkim_reason FROM reports")]
        con.close()
        unavailable = [x for x in reasons if x and "key unavailable" in x]
        expired = [x for x in reasons if x and "signature expired" in x]
        other = [x for x in reasons if x not in unavailable + expired]
        ok(len(unavailable) >= 2 and not other,
           "corpus, require = %s: key unavailable (or x= expired before the"
           " key is asked for), nothing else" % require,
           "\n".join(map(str, reasons)))
        table["corpus (%d mails)" % len(signed)][require] = (
            "%s: %d key unavailable, %d signature expired" %
            ("all quarantined" if require == "yes" else "all stored",
             len(unavailable), len(expired)))


def serve(tmp, name, serve_conf):
    """Starts `serve` on a free port: (serveproc.Serve, scheme, port, db)."""
    db = testdb.new(tmp, name)
    conf = serveproc.config(tmp, name, "[serve]\n" + serve_conf)
    srv = serveproc.start(tmp, name, db, conf)
    return srv, srv.scheme, srv.port, db


def stop(srv):
    srv.stop(30)


def post(scheme, port, body, context=None):
    if scheme == "https":
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                        context=context)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/v1/tlsrpt", body=body,
                  headers={"Content-Type": "application/tlsrpt+json"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_https_client(tmp):
    """A POST carries no DKIM: its client is recorded; allow restricts."""
    body = dkimlab.report_json("Google Inc.", "posted",
                               "smtp-tls-reporting@google.com", "example.com")
    proc, scheme, port, db = serve(tmp, "deny",
                                   "allow = 10.0.0.0/8, 2001:db8::/32\n")
    try:
        st, text = post(scheme, port, body)
        ok(st == 403 and "127.0.0.1 may not POST" in text,
           "[serve] allow without the client's network: 403", (st, text))
    finally:
        stop(proc)
    equal(one(db, "SELECT count(*) FROM reports")[0], 0,
          "nothing stored from a client not allowed")

    proc, scheme, port, db = serve(tmp, "allow",
                                   "allow = 10.0.0.0/8\nallow = 127.0.0.1\n")
    try:
        st, text = post(scheme, port, body)
        equal(st, 200, "[serve] allow with the client's address: stored")
    finally:
        stop(proc)
    row = one(db, "SELECT i.client, i.dkim, r.dkim, r.id FROM raw_inputs i"
              " JOIN reports r ON r.raw_id = i.id")
    ok(row is not None and row[0] == "127.0.0.1, plain HTTP" and
       row[1] is None and row[2] is None,
       "the POST's client is recorded, no DKIM verdict", row)
    if row:
        r = run(db, os.path.join(tmp, "allow.conf"), "report", "show",
                str(row[3]))
        ok("not applicable (HTTPS POST from 127.0.0.1, plain HTTP)"
           in r.stdout, "report show names the client", r.stdout)

    certdir = os.path.join(tmp, "certs")
    os.mkdir(certdir)
    certs = mkcerts.make(certdir)
    proc, scheme, port, db = serve(
        tmp, "tls", "tls_cert = %s\ntls_key = %s\nallow = ::1 127.0.0.0/8\n"
        % (certs["server.pem"], certs["server.key"]))
    try:
        ctx = ssl.create_default_context(cafile=certs["ca.pem"])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        st, text = post(scheme, port, body, ctx)
        equal(st, 200, "a POST over TLS 1.3 is stored")
    finally:
        stop(proc)
    equal(one(db, "SELECT client FROM raw_inputs")[0],
          "127.0.0.1, TLS1.3", "the client is recorded with its TLS version")
    conf = os.path.join(tmp, "bad-allow.conf")
    with open(conf, "w") as f:
        f.write("[serve]\nallow = 10.0.0.0/33\n")
    os.chmod(conf, 0o600)
    r = subprocess.run([BINARY, "--db", testdb.new(tmp, "x"),
                        "--config", conf, "serve", "--listen",
                        "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30)
    ok(r.returncode == 2 and "allow = 10.0.0.0/33" in r.stderr,
       "a bad allow network is a configuration error", r.stderr)


def prepare_conflicting_copies(tmp, zone):
    """Two different contents under one report-id: a genuine copy signed
    by google.com (its key published in zone) and a forged unsigned one
    claiming 999 failed sessions.  Returns their paths."""
    pem, pub = dkimlab.new_key(tmp, "copies", 1024)
    zone.key("copies", "google.com", pub)
    genuine = dkimlab.sign(dkimlab.report_mail(
        GOOGLE[0], "contested", GOOGLE[1], GOOGLE[2], "example.com",
        success=10, failed=0), "copies", "google.com", pem)
    forged = dkimlab.report_mail(
        GOOGLE[0], "contested", GOOGLE[1], GOOGLE[2], "example.com",
        success=0, failed=999)
    paths = []
    for name, data in (("genuine", genuine), ("forged", forged)):
        paths.append(os.path.join(tmp, name + ".eml"))
        with open(paths[-1], "wb") as f:
            f.write(data)
    return paths


def check_conflicting_copies(tmp, port, gpath, fpath):
    """A verified copy wins over an unverified one among conflicting copies
    of one report-id, in either order; both stay stored and flagged."""
    for order in (("forged", "genuine"), ("genuine", "forged")):
        name = "copies-" + "-".join(order)
        db = testdb.new(tmp, name)
        conf = os.path.join(tmp, name + ".conf")
        write_conf(conf, "warn", port)
        for which in order:
            run(db, conf, "ingest", gpath if which == "genuine" else fpath)
        con = testdb.connect(db)
        rows = con.execute(
            "SELECT dkim, counted, conflict, total_successful FROM reports"
            " WHERE report_id = 'contested' ORDER BY copy").fetchall()
        con.close()
        counted = [r for r in rows if r[1] == 1]
        ok(len(rows) == 2 and all(r[2] == 1 for r in rows) and
           len(counted) == 1 and counted[0][0] == "pass" and
           counted[0][3] == 10,
           "%s first: both copies kept and flagged, the verified one "
           "counted" % order[0], rows)
        r = run(db, conf, "export", "daily")
        ok(",Google Inc.,example.com,10,0," in r.stdout and
           ",999," not in r.stdout,
           "%s first: trends count the verified copy's sessions" % order[0],
           r.stdout)
        rid = one(db, "SELECT id FROM reports WHERE report_id = 'contested'"
                  " AND counted = 0")
        r = run(db, conf, "report", "show", str(rid[0] if rid else 0))
        ok("copy" in r.stdout and "another one is counted" in r.stdout and
           "dkim              none" in r.stdout,
           "%s first: report show of the unverified copy names the "
           "conflict" % order[0], r.stdout + r.stderr)


def main():
    if not BINARY or not os.path.exists(dkimlab.NSD):
        print("1..0 # SKIP needs the binary and nsd")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-dkim-")
    zone = dkimlab.Zone(tmp)
    try:
        build_cases(tmp, zone)
        copies = prepare_conflicting_copies(tmp, zone)
        port = zone.start()
        table = {name: {} for name in list(EXPECT) +
                 ["dns-down", "corpus"]}
        table = dict((k, v) for k, v in table.items() if k != "corpus")
        for require in ("warn", "yes"):
            db, conf = check_cases(tmp, port, require, table)
            if require == "warn":
                test_report_show_and_exports(db, conf)
            else:
                test_release(db, conf)
        test_dns_down(tmp, port, table)
        test_https_client(tmp)
        check_conflicting_copies(tmp, port, *copies)
        test_cache(tmp, port)
        if os.path.isdir(os.path.join(CORPUS, "real")):
            files = glob.glob(os.path.join(CORPUS, "*", "*.eml"))
            table.setdefault("corpus (%d mails)" % len(
                [f for f in files if b"dkim-signature" in
                 open(f, "rb").read().lower()]), {})
            test_corpus(tmp, port, table)
        else:
            print("# corpus not found at %r: corpus case not run" % CORPUS)
        print("# outcome table (case: require = warn | require = yes)")
        for name, row in table.items():
            print("#   %-12s | %s | %s" % (name, row.get("warn", "-"),
                                           row.get("yes", "-")))
    finally:
        zone.stop()
        if os.environ.get("TRPT_KEEP_TMP"):
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())
