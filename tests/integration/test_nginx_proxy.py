#!/usr/bin/env python3
"""examples/nginx-tlsrpt.conf in front of `tlsrpt-collector serve` (TAP).

Runs Debian's nginx with the example site (only its ports, certificate
paths and upstream port changed, a certificate made for this run) in front
of the real binary ($TRPT_BINARY) serving plain HTTP on loopback with
trust_proxy, and checks that reports POSTed over TLS to nginx are stored,
that refusals come back through it, and that the example's own rules
(POST only, http -> https) hold.
"""

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import mkcerts  # noqa: E402
import serveproc  # noqa: E402
from tap import done, ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
SOURCE_ROOT = os.environ.get("TRPT_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access(
    "/usr/sbin/nginx", os.X_OK) else None)

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def report(rid):
    path = os.path.join(SOURCE_ROOT, "examples", "reports",
                        "microsoft.com!example.com!1795219200!1795305599!"
                        "134084736000000000.json")
    with open(path) as f:
        r = json.load(f)
    r["report-id"] = rid
    return json.dumps(r).encode()


def post(port, ctx, path, body, ctype, method="POST"):
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                    context=ctx)
    try:
        c.request(method, path, body=body,
                  headers={"Content-Type": ctype} if ctype else {})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace"), r
    finally:
        c.close()


def main():
    if not BINARY or not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    if NGINX is None:
        print("1..0 # SKIP nginx not installed (apt-get install nginx-light)")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-nginx-")
    os.chmod(tmp, 0o755)
    serve = nginx = None
    try:
        certs = mkcerts.make(tmp)
        db = testdb.new(tmp, "db")
        conf = serveproc.config(tmp, "collector",
                                "[serve]\ntrust_proxy = true\n")
        serve = serveproc.Serve(tmp, "collector", db, conf)
        if not ok(serve.ready(15) and serve.scheme == "http",
                  "serve started", "".join(serve.lines)):
            return 1
        upstream = serve.port

        https_port, http_port = free_port(), free_port()
        with open(os.path.join(SOURCE_ROOT, "examples",
                               "nginx-tlsrpt.conf")) as f:
            site = f.read()
        site = site.replace("/etc/letsencrypt/live/tlsrpt.example.com/"
                            "fullchain.pem", certs["server.pem"])
        site = site.replace("/etc/letsencrypt/live/tlsrpt.example.com/"
                            "privkey.pem", certs["server.key"])
        site = site.replace("server 127.0.0.1:8460;",
                            "server 127.0.0.1:%d;" % upstream)
        site = site.replace("listen 443 ssl http2;",
                            "listen 127.0.0.1:%d ssl http2;" % https_port)
        site = site.replace("listen 80;", "listen 127.0.0.1:%d;" % http_port)
        site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
        ok("127.0.0.1:%d" % upstream in site and
           "127.0.0.1:%d ssl" % https_port in site,
           "example site adapted (ports, certificate, upstream)")
        with open(os.path.join(tmp, "site.conf"), "w") as f:
            f.write(site)
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(
                "daemon off;\nworker_processes 1;\n"
                "{user}"
                "pid {t}/nginx.pid;\nerror_log {t}/error.log;\n"
                "events {{}}\nhttp {{\n  access_log {t}/access.log;\n"
                "  client_body_temp_path {t}/body;\n"
                "  proxy_temp_path {t}/proxy;\n"
                "  fastcgi_temp_path {t}/fcgi;\n"
                "  uwsgi_temp_path {t}/uwsgi;\n"
                "  scgi_temp_path {t}/scgi;\n"
                "  include {t}/site.conf;\n}}\n".format(
                    user="user root;\n" if os.geteuid() == 0 else "", t=tmp))
        check = subprocess.run([NGINX, "-t", "-p", tmp, "-c",
                                os.path.join(tmp, "nginx.conf")],
                               capture_output=True, text=True)
        ok(check.returncode == 0, "nginx -t accepts the example",
           check.stderr)
        nginx = subprocess.Popen([NGINX, "-p", tmp, "-c",
                                  os.path.join(tmp, "nginx.conf")],
                                 stderr=subprocess.DEVNULL)
        if not ok(wait_port(https_port), "nginx listening"):
            return 1

        ctx = ssl.create_default_context(cafile=certs["ca.pem"])
        gz = gzip.compress(report("via-nginx-1"))
        s, b, _ = post(https_port, ctx, "/v1/tlsrpt", gz,
                       "application/tlsrpt+gzip")
        ok(s == 200 and b == "stored\n", "POST over TLS through nginx: stored",
           (s, b))
        s, b, _ = post(https_port, ctx, "/", gz, "application/tlsrpt+gzip")
        ok(s == 200 and b == "duplicate\n", "again at /: duplicate", (s, b))
        s, b, _ = post(https_port, ctx, "/v1/tlsrpt", b'{"x": 1}',
                       "application/tlsrpt+json")
        ok(s == 400 and b.startswith("rejected: "),
           "a rejected report: 400 with the reason, through nginx", (s, b))
        s, b, _ = post(https_port, ctx, "/v1/tlsrpt", gz, "text/plain")
        ok(s == 415, "wrong media type: 415 through nginx", s)
        s, b, _ = post(https_port, ctx, "/v1/tlsrpt", None, None, "GET")
        ok(s == 403, "GET on the report path: refused by nginx", s)
        s, b, _ = post(https_port, ctx, "/metrics", None, None, "GET")
        ok(s == 404, "metrics not exposed through nginx", s)
        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        c.request("POST", "/v1/tlsrpt", body=gz)
        r = c.getresponse()
        ok(r.status == 308 and
           r.getheader("Location", "").startswith("https://"),
           "plain http: redirected to https", (r.status,
                                               r.getheader("Location")))
        c.close()

        con = testdb.connect(db)
        n = con.execute("SELECT count(*) FROM reports WHERE report_id ="
                        " 'via-nginx-1'").fetchone()[0]
        src = con.execute("SELECT source FROM raw_inputs").fetchone()[0]
        q = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        con.close()
        ok(n == 1, "stored once")
        ok(src == "127.0.0.1 POST /v1/tlsrpt",
           "source: the client address nginx passed on", src)
        ok(q == 1, "one quarantine entry (the rejected report)", q)
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        import traceback
        ok(False, "test crashed: %r" % e, traceback.format_exc())
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGTERM)
            try:
                nginx.wait(15)
            except subprocess.TimeoutExpired:
                nginx.kill()
        if serve is not None:
            serve.stop(15)
        shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())
