#!/usr/bin/python3
"""The web dashboard in a real browser.

Ingests the planted dataset of the analysis test (example.com loses 10%
of its sessions to an expired certificate on mx2.example.com from
2026-01-28; Microsoft lists the same sessions twice), a report full of
hostile strings (<script>, quotes, ANSI escapes) and a rejected input,
then starts "serve" with the dashboard behind basic authentication on a
free loopback port and drives Debian's chromium (headless, through
chromium-driver and python3-selenium) over its pages: the overview lists
the drop domain first, its page shows the SVG charts and the evidence
with the MX host, no request leaves the page's origin, the console stays
clean, hostile strings appear as text.  Screenshots go to the build
directory ($TRPT_BUILD_DIR).  Prints TAP.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import serveproc  # noqa: E402
import testdb  # noqa: E402
import tap  # noqa: E402
from test_analysis_cli import make_cert, policy, report  # noqa: E402
from test_analysis_cli import write_reports  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY", "tlsrpt-collector")
OUTDIR = os.environ.get("TRPT_BUILD_DIR", tempfile.gettempdir())
RANGE = "since=2026-01-10&until=2026-02-01"
HOSTILE_ORG = 'Evil <script>alert(1)</script> "Corp" \x1b[31mred'
HOSTILE_CODE = ("x509: certificate is valid for old.example.org, not "
                "mail.example.org \x1b[0m<script>alert(3)</script>")


def run(args, **kw):
    return subprocess.run([BINARY] + args, capture_output=True, text=True,
                          timeout=60, **kw)


def write_hostile(d):
    import datetime
    day = datetime.date(2026, 1, 30)
    r = report(HOSTILE_ORG, "<b>x</b>", day, [
        policy("sts", "hostile.example", 90, 10, [{
            "result-type": "certificate-host-mismatch",
            "sending-mta-ip": "192.0.2.66",
            "receiving-mx-hostname": "<img src=x onerror=alert(2)>",
            "failed-session-count": 10,
            "failure-reason-code": HOSTILE_CODE,
            "additional-information": "'single' \"double\" </td></tr>"}]),
        policy("sts", "aaa.example", 100, 0)], "hostile'\"<i>id</i>")
    with open(os.path.join(d, "hostile.json"), "w") as f:
        json.dump(r, f)
    with open(os.path.join(d, "bad<script>.json"), "w") as f:
        f.write('{"organization-name": "x"}')


def start_serve(tmp, db, conf):
    p = serveproc.Serve(tmp, "serve", db, conf)
    p.ready(30)
    return p, p.dashboard, p.url


def get(url, auth=None):
    req = urllib.request.Request(url)
    if auth is not None:
        req.add_header("Authorization", "Basic " +
                       base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    prof = tempfile.mkdtemp(prefix="trpt-chromium-")
    for a in ("--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--window-size=1280,1800",
              "--user-data-dir=" + prof):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs",
                        {"performance": "ALL", "browser": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                           options=opts)
    drv.set_page_load_timeout(30)
    return drv, prof


def requests_seen(drv):
    urls = []
    for e in drv.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m["method"] == "Network.requestWillBeSent":
            urls.append(m["params"]["request"]["url"])
    return urls


def console_errors(drv):
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def visit(drv, origin, path, shot, what):
    """Loads path; checks what the page asked for and the console."""
    from selenium.webdriver.common.by import By
    requests_seen(drv)  # forget what came before
    drv.get(origin + path)
    # data: URLs are the browser's own (the date input's icon): no
    # request goes anywhere for them.
    urls = [u for u in requests_seen(drv) if not u.startswith("data:")]
    tap.ok(urls and all(u.startswith(origin + "/") for u in urls),
           "%s: every request stays on %s" % (what, origin), urls)
    errs = console_errors(drv)
    tap.ok(not errs, "%s: no console errors" % what, errs)
    tap.ok(not drv.find_elements(By.TAG_NAME, "script"),
           "%s: no script element" % what)
    drv.save_screenshot(os.path.join(OUTDIR, "dashboard-%s.png" % shot))


def parse_metrics(text):
    """Prometheus text format: {(name, frozenset(labels)): value}."""
    import re
    out = {}
    lab = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m is None:
            return None
        labels = frozenset(lab.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def check_metrics(recv):
    """The per-domain series of /metrics, and the Grafana dashboard of
    examples/ against them."""
    import re
    st, _, body = get(recv + "/metrics")
    series = parse_metrics(body) if st == 200 else None
    tap.ok(series is not None, "/metrics parses as the Prometheus format",
           body[:500])
    series = series or {}

    def val(name, **labels):
        return series.get((name, frozenset(labels.items())))
    tap.ok(val("tlsrpt_sessions_total", policy_domain="example.com",
               organization="Google Inc.", result="failed") == 500 and
           val("tlsrpt_sessions_total", policy_domain="example.com",
               organization="Microsoft Corporation",
               result="successful") == 10500,
           "/metrics: sessions per domain, sender and result (Microsoft's "
           "sts and tlsa counted once)")
    tap.equal(val("tlsrpt_failures_total", policy_domain="example.com",
                  result_type="certificate-expired",
                  mx_host="mx2.example.com"), 500,
              "/metrics: failures per domain, type and MX host")
    tap.ok('organization="Evil <script>alert(1)</script> \\"Corp\\" ?[31mred"'
           in body, "/metrics: label values escaped")
    tap.ok(val("tlsrpt_metrics_series_dropped",
               family="tlsrpt_sessions_total") == 0,
           "/metrics: the cap's gauge")
    src = os.environ.get("TRPT_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
    with open(os.path.join(src, "examples", "grafana-tlsrpt.json")) as f:
        dash = json.load(f)
    titles = [p["title"] for p in dash["panels"]]
    tap.ok(dash["__inputs"][0]["pluginId"] == "prometheus" and
           dash["schemaVersion"] >= 30 and dash["uid"] and
           len({p["id"] for p in dash["panels"]}) == len(titles) and
           all("gridPos" in p and p["targets"] for p in dash["panels"]) and
           "Encrypted share per day, by domain" in titles and
           "Failed sessions per day, by result type" in titles and
           "Failing MX hosts (7 days)" in titles,
           "Grafana dashboard JSON: an import with the expected panels",
           titles)
    names = {n for n, _ in series}
    used = {m for p in dash["panels"] for t in p["targets"]
            for m in re.findall(r"\btlsrpt_\w+", t["expr"])}
    tap.ok(used and used <= names,
           "Grafana dashboard: every metric it queries is on /metrics",
           sorted(used - names))


def main():
    tmp = tempfile.mkdtemp(prefix="trpt-dash-")
    proc = drv = prof = None
    try:
        db = testdb.new(tmp, "t")
        rep = os.path.join(tmp, "reports")
        os.mkdir(rep)
        write_reports(rep)
        write_hostile(rep)
        r = run(["--db", db, "ingest", rep])
        tap.ok("ingested 43" in r.stdout and "rejected 1" in r.stdout,
               "ingest the planted dataset, a hostile report and a bad "
               "input", r.stdout + r.stderr)

        r = run(["dashboard-password", "viewer"], input="s3cret pass\n")
        tap.ok(r.returncode == 0 and
               r.stdout.startswith("viewer:pbkdf2-sha256$600000$"),
               "dashboard-password prints a PBKDF2 line", r.stdout + r.stderr)
        pwfile = os.path.join(tmp, "dash.passwd")
        with open(pwfile, "w") as f:
            f.write("# the dashboard's users\n" + r.stdout)
        conf = os.path.join(tmp, "c.conf")
        with open(conf, "w") as f:
            f.write("[dashboard]\nlisten = 0.0.0.0:0\n")
        os.chmod(conf, 0o600)
        r = run(["--db", db, "--config", conf, "serve", "--listen",
                 "127.0.0.1:0"])
        tap.ok(r.returncode == 2 and "password_file" in r.stderr,
               "no password file: refused beyond loopback", r.stderr)

        with open(conf, "w") as f:
            f.write("[dashboard]\nlisten = 127.0.0.1:0\npassword_file = %s\n"
                    % pwfile)
        proc, origin, recv = start_serve(tmp, db, conf)
        tap.ok(origin is not None and origin.startswith("http://127.0.0.1:"),
               "serve starts the dashboard", origin)
        if origin is None:
            return tap.done()
        st, hdr, _ = get(origin + "/")
        tap.ok(st == 401 and "Basic" in hdr.get("WWW-Authenticate", ""),
               "no credentials: 401 with a Basic challenge", st)
        st, _, _ = get(origin + "/", "viewer:wrong")
        tap.equal(st, 401, "a wrong password is refused")
        st, _, _ = get(origin + "/", "nobody:s3cret pass")
        tap.equal(st, 401, "an unknown user is refused")
        st, hdr, body = get(origin + "/?" + RANGE, "viewer:s3cret pass")
        csp = hdr.get("Content-Security-Policy", "")
        tap.ok(st == 200 and "default-src 'none'" in csp and
               "script-src" not in csp and "unsafe-inline" not in csp,
               "the right password: 200, strict Content-Security-Policy",
               "%d %s" % (st, csp))
        st, hdr, body = get(origin + "/csv/failures?domain=example.com&" +
                            RANGE, "viewer:s3cret pass")
        tap.ok(st == 200 and "certificate-expired" in body and
               "mx2.example.com" in body and
               hdr.get("Content-Type", "").startswith("text/csv"),
               "CSV download of the domain's failure details",
               body[:300])

        check_metrics(recv)

        drv, prof = browser()
        auth = base64.b64encode(b"viewer:s3cret pass").decode()
        drv.execute_cdp_cmd("Network.enable", {})
        drv.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                            {"headers": {"Authorization": "Basic " + auth}})
        from selenium.webdriver.common.by import By

        visit(drv, origin, "/?" + RANGE, "overview", "overview")
        rows = drv.find_elements(By.CSS_SELECTOR, "#domains tr td:first-child")
        names = [x.text for x in rows]
        tap.ok(names[:1] == ["example.com"] and "aaa.example" in names,
               "overview: the drop domain first (before aaa.example)",
               names)
        tap.ok(len(drv.find_elements(By.CSS_SELECTOR, "svg.chart")) == 2,
               "overview: two SVG charts")

        drv.find_element(By.LINK_TEXT, "example.com").click()
        visit_url = drv.current_url
        tap.ok("/domain?d=example.com" in visit_url,
               "the domain link opens its page", visit_url)
        visit(drv, origin, visit_url[len(origin):], "domain",
              "domain page")
        charts = drv.find_elements(By.CSS_SELECTOR, "svg.chart")
        tap.ok(len(charts) == 2 and charts[0].size["height"] > 100,
               "domain page: share and failure-type charts drawn",
               [c.size for c in charts])
        alerts = [a.text for a in
                  drv.find_elements(By.CSS_SELECTOR, "div.alert")]
        tap.ok(any("drop" in a and "certificate-expired" in a and
                   "mx2.example.com" in a and "209.85.220.1" in a
                   for a in alerts),
               "domain page: the drop alert with its evidence and MX host",
               alerts)
        causes = drv.find_element(By.CSS_SELECTOR, "div.cause").text
        tap.ok("certificate-expired" in causes and "mx2.example.com" in causes
               and "Fix:" in causes,
               "domain page: cause and fix with the MX host", causes)

        visit(drv, origin, "/domain?d=hostile.example&" + RANGE, "hostile",
              "hostile domain page")
        text = drv.find_element(By.TAG_NAME, "body").text
        src = drv.page_source
        tap.ok("<script>alert(3)</script>" in text and
               "\\x1b[0m" in text and HOSTILE_CODE not in src,
               "the sender's reason code shows as text, ANSI escaped",
               text[-800:])
        tap.ok("<img src=x onerror=alert(2)>" in text and
               not drv.find_elements(By.TAG_NAME, "img") and
               "'single' \"double\" </td></tr>" in text,
               "hostile MX host and quotes show as text")
        try:
            drv.switch_to.alert
            tap.ok(False, "no script ran")
        except Exception:
            tap.ok(True, "no script ran")

        drv.find_element(By.PARTIAL_LINK_TEXT, "hostile'").click()
        visit(drv, origin, drv.current_url[len(origin):], "report",
              "report page")
        text = drv.find_element(By.TAG_NAME, "body").text
        tap.ok(HOSTILE_ORG.replace("\x1b", "\\x1b") in text and
               "hostile.example" in text and "Provenance" in text and
               "192.0.2.66" in text and "file" in text,
               "report page: sender escaped, policies, failure details, "
               "provenance", text[:600])

        visit(drv, origin, "/quarantine", "quarantine", "quarantine")
        text = drv.find_element(By.TAG_NAME, "body").text
        tap.ok("bad<script>.json" in text and "1 rejected" in text,
               "quarantine: the rejected input with its source", text[:400])
        visit(drv, origin, "/sender?o=Google%20Inc.&" + RANGE, "sender",
              "sender page")
        text = drv.find_element(By.TAG_NAME, "body").text
        tap.ok("example.com" in text and "certificate-expired" in text,
               "sender page: its domains and failures", text[:400])

        # report html: the same views in one file, opened from disk.
        page = os.path.join(tmp, "report.html")
        r = run(["--db", db, "report", "html", "-o", page, "--since",
                 "2026-01-10", "--until", "2026-02-01"])
        with open(page, encoding="utf-8") as f:
            html = f.read()
        tap.ok(r.returncode == 0 and 'id="d-example.com"' in html and
               'id="d-hostile.example"' in html and
               'id="o-Google%20Inc."' in html and 'id="quarantine"' in html
               and "<script" not in html and "http:" not in html and
               "https:" not in html and 'src="' not in html,
               "report html: every view in one self-contained file",
               r.stderr)
        requests_seen(drv)
        drv.get("file://" + page)
        urls = [u for u in requests_seen(drv)
                if not u.startswith("data:")]
        tap.ok(urls == ["file://" + page],
               "report html: the browser asks for nothing else", urls)
        tap.ok(not console_errors(drv), "report html: no console errors",
               console_errors(drv))
        rows = drv.find_elements(By.CSS_SELECTOR, "#domains tr td:first-child")
        tap.ok([x.text for x in rows][:1] == ["example.com"] and
               len(drv.find_elements(By.CSS_SELECTOR, "svg.chart")) >= 6,
               "report html: the drop domain first, the charts drawn")
        drv.find_element(By.LINK_TEXT, "example.com").click()
        tap.ok(drv.current_url.endswith("#d-example.com"),
               "report html: a domain link leads to its section",
               drv.current_url)
        text = drv.find_element(By.TAG_NAME, "body").text
        tap.ok("<script>alert(3)</script>" in text and
               not drv.find_elements(By.TAG_NAME, "script"),
               "report html: hostile strings shown as text")
        drv.save_screenshot(os.path.join(OUTDIR, "report-html.png"))

        # TLS as the receiver: tls_cert and tls_key in [dashboard].
        proc.stop(30)
        key, cert = make_cert(tmp)
        with open(conf, "w") as f:
            f.write("[dashboard]\nlisten = 127.0.0.1:0\ntls_cert = %s\n"
                    "tls_key = %s\n" % (cert, key))
        proc, origin, recv = start_serve(tmp, db, conf)
        import ssl
        ctx = ssl.create_default_context(cafile=cert)
        try:
            with urllib.request.urlopen(origin + "/quarantine", timeout=30,
                                        context=ctx) as r:
                st = r.status
        except Exception as e:  # noqa: BLE001
            st = str(e)
        tap.ok(origin is not None and origin.startswith("https://") and
               st == 200, "the dashboard over TLS", "%s %s" % (origin, st))
    finally:
        if drv is not None:
            drv.quit()
        if proc is not None:
            proc.stop(30)
        if prof is not None:
            shutil.rmtree(prof, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
