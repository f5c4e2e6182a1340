#!/usr/bin/env python3
"""Integration test of `tlsrpt-collector fetch` with [https "NAME"] sources
(TAP output).

Runs the real binary ($TRPT_BINARY) against a real HTTPS server on
loopback (tests/helpers/https_server.py, Python's http.server in TLS with a
CA made for this run) and checks exit codes, messages, the database and
the requests the server saw: an index, ETag/304 on the second run, 404 and
500 (retried) sources that do not stop the others, a bearer token, a
rejected body, and configuration errors caught by --check.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
import testdb  # noqa: E402
import mkcerts  # noqa: E402
from tap import done, ok  # noqa: E402

BINARY = os.environ.get("TRPT_BINARY")
SOURCE_ROOT = os.environ.get("TRPT_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
EXAMPLES = os.path.join(SOURCE_ROOT, "examples", "reports")
GOOGLE = "google.com!example.com!1795132800!1795219199!001.json.gz"
MICROSOFT = ("microsoft.com!example.com!1795219200!1795305599!"
             "134084736000000000.json")

class HttpsServer:
    def __init__(self, tmp):
        self.root = os.path.join(tmp, "root")
        self.log = os.path.join(tmp, "requests.log")
        self.certdir = os.path.join(tmp, "certs")
        os.mkdir(self.root)
        os.mkdir(self.certdir)
        self.ca = mkcerts.make(self.certdir)["ca.pem"]
        shutil.copy(os.path.join(EXAMPLES, GOOGLE),
                    os.path.join(self.root, "google.json.gz"))
        shutil.copy(os.path.join(EXAMPLES, MICROSOFT),
                    os.path.join(self.root, "microsoft.json"))
        with open(os.path.join(self.root, "index.json"), "w") as f:
            f.write('["google.json.gz", "/microsoft.json"]\n')
        with open(os.path.join(self.root, "bad.json"), "w") as f:
            f.write('{"not": "a report"}\n')
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "..", "helpers",
                                          "https_server.py"),
             "--root", self.root, "--certdir", self.certdir,
             "--log", self.log],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("port "):
            raise RuntimeError("HTTPS server did not start: %r" % line)
        self.port = int(line.split()[1])

    def url(self, path):
        return "https://127.0.0.1:%d/%s" % (self.port, path)

    def requests(self, prefix):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [line for line in f if line.startswith(prefix)]

    def stop(self):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(10)


def run(tmp, db, conf_text, *args, verbose=False):
    conf = os.path.join(tmp, "fetch.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    os.chmod(conf, 0o600)
    p = subprocess.run([BINARY, "--db", db, "--config", conf] +
                       (["-v"] if verbose else []) + ["fetch", *args],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def count(db, sql):
    con = testdb.connect(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def section(srv, name, path, extra=""):
    return ('[https "%s"]\nurl = %s\nca_file = %s\nretry_delay = 10\n%s\n' %
            (name, srv.url(path), srv.ca, extra))


def main():
    if not BINARY or not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP TRPT_BINARY not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="trpt-fetch-https-")
    srv = None
    try:
        srv = HttpsServer(tmp)
        db = testdb.new(tmp, "a")
        conf = section(srv, "idx", "index.json")

        rc, out, err = run(tmp, db, conf)
        ok(rc == 0 and "ingested 2, duplicates 0, rejected 0" in out,
           "an index: both reports stored, exit 0", (rc, out, err))
        ok(count(db, "SELECT count(*) FROM raw_inputs WHERE source_kind ="
                 " 'https-pull'") == 2, "stored as https-pull inputs")
        rc, out, err = run(tmp, db, conf)
        ok(rc == 0 and "ingested 0, duplicates 0, rejected 0" in out,
           "second run: nothing new", (rc, out, err))
        ok(len(srv.requests("GET /index.json 304 inm=\"")) == 1,
           "second run: the index costs one conditional 304",
           srv.requests("GET /index.json"))
        ok(len(srv.requests("GET /google.json.gz")) == 1,
           "second run: entries not fetched again")

        rc, out, err = run(tmp, db, section(srv, "gone", "status/404") +
                           section(srv, "flaky", "status/500",
                                   "retries = 1") + conf, verbose=True)
        ok(rc == 3, "a 404 and a 500 source: exit 3", (rc, out, err))
        ok("fetch gone: %s: HTTP status 404" % srv.url("status/404") in err,
           "the 404 is named with source and URL", err)
        ok("fetch flaky: %s: HTTP status 500" % srv.url("status/500") in err,
           "the 500 is named with source and URL", err)
        ok(len(srv.requests("GET /status/500")) == 2,
           "the 500 was retried once", srv.requests("GET /status/500"))
        ok(len(srv.requests("GET /status/404")) == 1, "the 404 was not")
        ok("not modified" in err,
           "the other source still ran (-v says not modified)", err)
        ok(count(db, "SELECT last_status FROM http_state WHERE source ="
                 " 'gone'") == 404, "http_state records the 404")

        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("secret-token\n")
        os.chmod(token, 0o600)
        db2 = testdb.new(tmp, "b")
        rc, out, err = run(tmp, db2, section(srv, "auth",
                                             "auth/microsoft.json"))
        ok(rc == 3 and "401" in err, "without the token: 401, exit 3",
           (rc, err))
        rc, out, err = run(tmp, db2, section(
            srv, "auth", "auth/microsoft.json",
            "bearer_token_file = %s" % token))
        ok(rc == 0 and "ingested 1," in out, "with bearer_token_file: stored",
           (rc, out, err))
        ok(not srv.requests("GET /auth/microsoft.json 200 inm=- ims=- auth=0"),
           "the token was sent")

        rc, out, err = run(tmp, db2, section(srv, "bad", "bad.json"))
        ok(rc == 1 and "rejected 1" in out and
           srv.url("bad.json") + ": rejected: " in err,
           "a body that is not a report: quarantined, exit 1", (rc, out, err))
        ok(count(db2, "SELECT count(*) FROM quarantine WHERE source = '%s'"
                 % srv.url("bad.json")) == 1, "quarantined under its URL")

        db3 = testdb.new(tmp, "c")
        rc, out, err = run(tmp, db3, section(srv, "nohttps", "x").replace(
            "https://", "http://"), "--check")
        ok(rc == 2 and "must start with https://" in err,
           "--check refuses a plain http url", (rc, err))
        rc, out, err = run(tmp, db3, section(srv, "typo", "x",
                                             "tiemout = 5"), "--check")
        ok(rc == 2 and "tiemout" in err, "--check refuses an unknown key",
           (rc, err))
        rc, out, err = run(tmp, db3, section(
            srv, "notoken", "x", "bearer_token_file = %s/none" % tmp),
            "--check")
        ok(rc == 2 and "notoken" in err and "bearer_token_file" in err,
           "--check refuses a missing token file", (rc, err))
        ok(not os.path.exists(db3), "--check opens no database")
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        import traceback
        ok(False, "test crashed: %r" % e, traceback.format_exc())
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())
