#!/usr/bin/env python3
"""Integration test of `tlsrpt-collector check DOMAIN` (TAP output).

Starts a small mail Internet on loopback (tests/helpers/checknet.py): nsd
serving a DNSSEC-signed zone and an unsigned child zone, SMTP servers with
STARTTLS and certificates made for this run (valid, expired, wrong name,
self-signed), one without STARTTLS, one speaking only TLS 1.0, and an
HTTPS server with MTA-STS policies (valid, malformed, testing, wrong
certificate, missing, not listing the MX).  Each case asserts the result
types per MX host that a sender would report, and the exit status.
"""

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import checknet  # noqa: E402
from tap import done, equal, ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")

# domain label -> (exit status, {MX host label: [result types]}, port)
CASES = {
    "good": (0, {"mx-good": []}, None),
    "expired": (1, {"mx-expired": ["certificate-expired"]}, None),
    "mismatch": (1, {"mx-mismatch": ["certificate-host-mismatch"]}, None),
    "selfsigned": (1, {"mx-selfsigned": ["certificate-not-trusted"]}, None),
    "plain": (1, {"mx-plain": ["starttls-not-supported"]}, "plain"),
    "tls10": (1, {"mx-tls10": ["validation-failure"]}, "tls10"),
    "danebad": (1, {"mx-dane-bad": ["tlsa-invalid"]}, None),
    "bogus": (1, {"mx-bogus": ["dnssec-invalid"]}, None),
    "danemix": (1, {"mx-good": [], "mx-notlsa": ["dane-required"]}, None),
    "stsbad": (1, {"mx-good": ["sts-policy-invalid"]}, None),
    "ststesting": (0, {"mx-good": []}, None),
    "stswrongcert": (1, {"mx-good": ["sts-webpki-invalid"]}, None),
    "stsnomatch": (1, {"mx-good": ["sts-policy-invalid"]}, None),
    "stsmissing": (1, {"mx-good": ["sts-policy-fetch-error"]}, None),
    "bogusmx": (1, {}, None),
    "notlsrpt": (1, {"mx-good": []}, None),
    "badrua": (1, {"mx-good": []}, None),
}


def run(net, domain, *extra, port=None, fmt="json"):
    p = subprocess.run([BINARY, "check", domain,
                        "--format", fmt] + net.args(port) + list(extra),
                       capture_output=True, text=True, timeout=60)
    return p


def types_per_mx(doc):
    return {m["host"].replace("." + checknet.ZONE, ""):
            [f["result_type"] for f in m["findings"]] for m in doc["mx"]}


def case(net, label, want_exit, want, port):
    domain = "%s.%s" % (label, checknet.ZONE)
    p = run(net, domain, port={"plain": net.plain_port,
                               "tls10": net.tls10_port}.get(port))
    if not equal(p.returncode, want_exit, "%s: exit status" % label):
        print("# " + p.stderr.replace("\n", "\n# "))
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        ok(False, "%s: JSON output" % label, p.stdout + p.stderr)
        return None
    equal(types_per_mx(doc), want, "%s: result types per MX" % label)
    return doc


def report(org, day, domain, ok_count, failed, mx):
    start = datetime.datetime.combine(day, datetime.time(0, 0))
    pol = {"policy": {"policy-type": "tlsa", "policy-domain": domain},
           "summary": {"total-successful-session-count": ok_count,
                       "total-failure-session-count": failed}}
    if failed:
        pol["failure-details"] = [{
            "result-type": "certificate-expired",
            "sending-mta-ip": "209.85.220.1",
            "receiving-mx-hostname": mx,
            "failed-session-count": failed}]
    return {"organization-name": org,
            "date-range": {
                "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end-datetime": (start + datetime.timedelta(seconds=86399))
                .strftime("%Y-%m-%dT%H:%M:%SZ")},
            "contact-info": "tlsrpt@sender.example",
            "report-id": "%s-%s" % (day.isoformat(), domain),
            "policies": [pol]}


def alerts_recheck(net, tmp):
    """A drop planted in reports (certificate-expired on one MX of two
    domains), then `alerts --recheck`: the live finding joins the alert's
    evidence; where the live check passes the alert stays open."""
    rep = os.path.join(tmp, "reports")
    os.mkdir(rep)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    planted = (("expired", "mx-expired"), ("good", "mx-good"))
    for i in range(-20, 0):
        day = today + datetime.timedelta(days=i)
        for label, mx in planted:
            failed = 100 if i >= -3 else 0
            with open(os.path.join(rep, "%s%d.json" % (label, i + 20)),
                      "w") as f:
                json.dump(report("Sender Inc.", day, label + "." +
                                 checknet.ZONE, 1000 - failed, failed,
                                 mx + "." + checknet.ZONE), f)
    db = testdb.new(tmp, "t")
    conf = os.path.join(tmp, "t.conf")
    a = net.args()
    opts = dict(zip(a[::2], a[1::2]))
    with open(conf, "w") as f:
        f.write("[check]\nresolver = %s\ntrust_anchor = %s\nca_file = %s\n"
                "smtp_port = %s\nhttps_port = %s\nhelo = %s\ntimeout = 5\n"
                % (opts["--resolver"], opts["--trust-anchor"],
                   opts["--ca-file"], opts["--smtp-port"],
                   opts["--https-port"], opts["--helo"]))
    os.chmod(conf, 0o600)
    p = subprocess.run([BINARY, "--db", db, "ingest", rep],
                       capture_output=True, text=True, timeout=60)
    equal(p.returncode, 0, "recheck: reports ingested")
    p = subprocess.run([BINARY, "--db", db, "--config", conf, "alerts",
                        "--recheck"], capture_output=True, text=True,
                       timeout=120)
    ok(p.returncode == 0 and "live: mx-expired" in p.stdout,
       "alerts --recheck: table shows the live finding", p.stdout + p.stderr)
    print("# " + p.stdout.replace("\n", "\n# "))
    p = subprocess.run([BINARY, "--db", db, "--config", conf, "alerts",
                        "--format", "json"], capture_output=True, text=True,
                       timeout=60)
    alerts = json.loads(p.stdout) if p.returncode == 0 else []
    drops = {x["policy_domain"]: x for x in alerts
             if x["kind"] == "drop" and x["scope"] == "domain"}
    exp = drops.get("expired." + checknet.ZONE, {})
    live = exp.get("live_checks", [])
    ok(exp.get("open") and len(live) == 1 and
       live[0].startswith("mx-expired.check.example: certificate-expired: "
                          "certificate of mx-expired.check.example expired "
                          "on ") and " live check at " in live[0] and
       exp.get("live_check_passes") is False,
       "drop on expired: the live finding is in the evidence", exp)
    good = drops.get("good." + checknet.ZONE, {})
    ok(good.get("open") and good.get("live_check_passes") is True and
       good["live_checks"][0].startswith("mx-good.check.example: ok: "
                                         "passes: STARTTLS"),
       "drop on good: live check passes, the alert stays open until "
       "reports confirm", good)


def planted_drop(net, tmp):
    """The test dataset's planted drop (test_analysis_cli.py: Google reports
    certificate-expired on mx2.example.com from 2026-01-28), rechecked
    against example.com as served here, mx2's certificate expired."""
    sys.path.insert(0, HERE)
    import test_analysis_cli  # noqa: E402
    rep = os.path.join(tmp, "planted")
    os.mkdir(rep)
    test_analysis_cli.write_reports(rep)
    db = testdb.new(tmp, "planted")
    p = subprocess.run([BINARY, "--db", db, "ingest", rep],
                       capture_output=True, text=True, timeout=60)
    equal(p.returncode, 0, "planted drop: reports ingested")
    conf = os.path.join(tmp, "t.conf")
    p = subprocess.run([BINARY, "--db", db, "--config", conf, "alerts",
                        "--now", "2026-02-02", "--recheck", "--format",
                        "json"], capture_output=True, text=True, timeout=120)
    alerts = json.loads(p.stdout) if p.stdout.startswith("[") else []
    drop = [x for x in alerts if x["kind"] == "drop" and
            x.get("policy_domain") == "example.com"]
    live = drop[0]["live_checks"] if drop else []
    ok(len(drop) == 1 and drop[0]["open"] and
       any(x.startswith("mx2.example.com: certificate-expired: certificate "
                        "of mx2.example.com expired on ") for x in live) and
       any(x.startswith("mx1.example.com: ok: passes") for x in live),
       "planted drop: mx2's live finding is in the drop's evidence",
       p.stdout + p.stderr)
    p = subprocess.run([BINARY, "--db", db, "alerts", "--now", "2026-02-02"],
                       capture_output=True, text=True, timeout=60)
    ok("live: mx2.example.com: certificate-expired" in p.stdout,
       "planted drop: the evidence stays with the alert", p.stdout)
    print("# " + p.stdout.replace("\n", "\n# "))
    p = subprocess.run([BINARY, "--db", db, "report", "html", "-o", "-",
                        "--since", "2026-01-01", "--until", "2026-02-02",
                        "--domain", "example.com"],
                       capture_output=True, text=True, timeout=60)
    ok(p.returncode == 0 and "Live check: mx1.example.com: ok" in p.stdout
       and "mx2.example.com: certificate-expired: certificate of "
       "mx2.example.com expired on " in p.stdout,
       "planted drop: the dashboard's alert shows the live finding",
       p.stderr + p.stdout[-2000:])


def main():
    if BINARY is None:
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-check-")
    net = checknet.CheckNet(tmp)
    try:
        net.start()
        docs = {}
        for label, (want_exit, want, port) in CASES.items():
            docs[label] = case(net, label, want_exit, want, port)

        d = docs["good"]
        if d is not None:
            m = d["mx"][0]
            equal((d["mx_dnssec"], d["tlsrpt"]["dnssec"],
                   d["mta_sts"]["dnssec"], m["tlsa_dnssec"]),
                  ("secure",) * 4, "good: MX, TLSRPT, _mta-sts and TLSA "
                  "validated secure")
            equal(d["tlsrpt"]["rua"], ["mailto:tlsrpt@check.example"],
                  "good: rua URIs")
            equal((d["mta_sts"]["policy"]["mode"], d["mta_sts"]["policy"]["max_age"],
                   m["sts_pattern"]),
                  ("enforce", 86400, "mx-good.check.example"),
                  "good: MTA-STS policy and the pattern the MX matches")
            c = m["certificate"]
            equal((m["tls_version"] in ("TLS1.2", "TLS1.3"), c["trusted"],
                   c["name_ok"], c["dane_match"], c["days_left"] >= 2),
                  (True, True, True, True, True),
                  "good: TLS >= 1.2, chain, name, DANE match, days left")
        d = docs["ststesting"]
        if d is not None:
            equal(d["mta_sts"]["policy"]["mode"], "testing", "ststesting: mode shown")
        d = docs["expired"]
        if d is not None:
            c = d["mx"][0]["certificate"]
            ok(c["expired"] and c["days_left"] <= -35,
               "expired: expiry date and days since", c)
            f = d["mx"][0]["findings"][0]
            ok("expired on" in f["detail"] and "renew" in f["fixes"].lower(),
               "expired: detail and the fix text of the alerts", f)
        d = docs["bogus"]
        if d is not None:
            equal(d["mx"][0]["tlsa_dnssec"], "bogus", "bogus: TLSA is bogus")
        d = docs["bogusmx"]
        if d is not None:
            equal((d["mx_dnssec"], [f["result_type"] for f in d["findings"]]),
                  ("bogus", ["dnssec-invalid"]),
                  "bogusmx: a bogus MX set is dnssec-invalid, no MX probed")
        d = docs["tls10"]
        if d is not None:
            ok("TLS1.0" in d["mx"][0]["findings"][0]["detail"],
               "tls10: the version it speaks is named",
               d["mx"][0]["findings"][0])
        for label in ("notlsrpt", "badrua"):
            d = docs[label]
            if d is not None:
                ok(len(d["findings"]) == 1 and
                   d["findings"][0]["result_type"] is None and
                   "_smtp._tls" in d["findings"][0]["detail"],
                   "%s: TLSRPT record problem named" % label, d["findings"])

        # The unsigned child zone: TLSA insecure, ignored, WebPKI passes.
        p = run(net, checknet.CHILD)
        equal(p.returncode, 0, "insecure zone: exit status")
        d = json.loads(p.stdout) if p.stdout else {"mx": [{}]}
        equal((d.get("mx_dnssec"), d["mx"][0].get("tlsa_dnssec"),
               d["mx"][0].get("findings")), ("insecure", "insecure", []),
              "insecure zone: MX and TLSA insecure, no DANE failure")

        # IDN: the U-label form is checked as its A-label.
        p = run(net, "b\u00fccher." + checknet.ZONE)
        equal(p.returncode, 0, "IDN domain: exit status")
        d = json.loads(p.stdout) if p.stdout else {}
        equal(d.get("domain"), "xn--bcher-kva." + checknet.ZONE,
              "IDN domain: checked as A-labels")

        # --mx: only the named host; one not published is not contacted.
        p = run(net, "danemix." + checknet.ZONE, "--mx",
                "mx-notlsa.check.example")
        d = json.loads(p.stdout) if p.stdout else {"mx": []}
        equal([m["host"] for m in d["mx"]], ["mx-notlsa.check.example"],
              "--mx: only that host is checked")
        p = run(net, "good." + checknet.ZONE, "--mx", "mx9.elsewhere.example")
        d = json.loads(p.stdout) if p.stdout else {"mx": [], "findings": []}
        ok(p.returncode == 1 and d["mx"] == [] and
           "not an MX host" in d["findings"][0]["detail"],
           "--mx: a host the domain does not publish is refused",
           p.stdout + p.stderr)

        # The table shows the result types with causes and fixes.
        p = run(net, "expired." + checknet.ZONE, fmt="table")
        ok("certificate-expired" in p.stdout and "causes:" in p.stdout and
           "result: FAIL" in p.stdout, "table output", p.stdout)
        p = run(net, "good." + checknet.ZONE, fmt="table")
        ok(p.returncode == 0 and "result: ok" in p.stdout, "table: ok",
           p.stdout)

        # Hostile MX hosts: the check ends in time with a clear problem.
        for port, word in ((net.trickle_port, "no reply in time"),
                           (net.flood_port, "longer than")):
            p = run(net, "hostile." + checknet.ZONE, "--timeout", "2",
                    port=port)
            d = json.loads(p.stdout) if p.stdout else {"mx": [{}]}
            f = d["mx"][0].get("findings", [{}])
            ok(p.returncode == 1 and len(f) == 1 and
               f[0]["result_type"] is None and word in f[0]["detail"],
               "hostile MX (%s): a problem, not a hang" % word,
               p.stdout + p.stderr)

        # Could not run: a resolver that never answers is exit 3.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        dead = ["--resolver", "127.0.0.1@%d" % s.getsockname()[1]]
        p = subprocess.run([BINARY, "check",
                            "good." + checknet.ZONE, "--trust-anchor",
                            net.anchor, "--timeout", "1"] + dead,
                           capture_output=True, text=True, timeout=60)
        s.close()
        ok(p.returncode == 3 and "no answer within" in p.stderr,
           "a resolver that does not answer: exit 3", p.stderr)
        p = subprocess.run([BINARY, "check",
                            "not a domain"], capture_output=True, text=True)
        ok(p.returncode == 2 and "not a domain" in p.stderr,
           "a bad domain: exit 2", p.stderr)
        alerts_recheck(net, tmp)
        planted_drop(net, tmp)
    finally:
        net.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())
