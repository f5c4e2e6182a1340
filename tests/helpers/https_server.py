#!/usr/bin/env python3
"""A small HTTPS file server for the pull fetcher's integration tests.

    https_server.py --root DIR --certdir DIR --log FILE

Listens on a free port of 127.0.0.1 and prints "port N" once ready.
Serves the files under --root with an ETag (quoted sha256) and a
Last-Modified, answering 304 to a matching If-None-Match or
If-Modified-Since.  Special paths:
  /status/NNN          answers status NNN
  /flaky/N/FILE        answers 500 to the first N requests, then FILE
  /auth/FILE           needs "Authorization: Bearer secret-token"
  /noetag/FILE         FILE without validators
Each request is appended to --log as one line:
  METHOD PATH STATUS inm=<If-None-Match> ims=<If-Modified-Since> auth=0|1
The certificate directory holds server.pem and server.key (mkcerts.py).
Stops on SIGTERM or when its standard input closes.
"""

import argparse
import email.utils
import hashlib
import http.server
import os
import signal
import ssl
import sys
import threading

FLAKY = {}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self, status):
        with LOCK, open(self.server.logpath, "a") as f:
            f.write("%s %s %d inm=%s ims=%s auth=%d\n" % (
                self.command, self.path, status,
                self.headers.get("If-None-Match", "-"),
                self.headers.get("If-Modified-Since", "-").replace(" ", "_"),
                1 if self.headers.get("Authorization") else 0))

    def answer(self, status, body=b"", headers=()):
        # Logged before answering: a client that reads the log right after
        # its answer must find the line there.
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 304:
            self.wfile.write(body)

    def serve_file(self, rel, validators=True):
        path = os.path.realpath(os.path.join(self.server.root, rel))
        if not path.startswith(self.server.root + os.sep) or \
                not os.path.isfile(path):
            return self.answer(404, b"not found\n")
        with open(path, "rb") as f:
            data = f.read()
        if not validators:
            return self.answer(200, data,
                               [("Content-Type", "application/octet-stream")])
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:32]
        mtime = int(os.path.getmtime(path))
        lastmod = email.utils.formatdate(mtime, usegmt=True)
        hdrs = [("ETag", etag), ("Last-Modified", lastmod),
                ("Content-Type", "application/octet-stream")]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            if inm == etag:
                return self.answer(304, b"", hdrs)
        elif ims is not None:
            try:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
                if mtime <= t:
                    return self.answer(304, b"", hdrs)
            except (TypeError, ValueError):
                pass
        return self.answer(200, data, hdrs)

    def do_GET(self):
        p = self.path.split("?", 1)[0]
        parts = p.lstrip("/").split("/")
        if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            return self.answer(int(parts[1]), b"status %s\n" % parts[1].encode())
        if parts[0] == "flaky" and len(parts) >= 3 and parts[1].isdigit():
            with LOCK:
                n = FLAKY.get(p, 0)
                FLAKY[p] = n + 1
            if n < int(parts[1]):
                return self.answer(500, b"try again\n")
            return self.serve_file("/".join(parts[2:]))
        if parts[0] == "auth":
            if self.headers.get("Authorization") != "Bearer secret-token":
                return self.answer(401, b"unauthorised\n")
            return self.serve_file("/".join(parts[1:]))
        if parts[0] == "noetag":
            return self.serve_file("/".join(parts[1:]), validators=False)
        return self.serve_file(p.lstrip("/"))

    do_HEAD = do_GET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--certdir", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = os.path.realpath(a.root)
    srv.logpath = a.log
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(a.certdir, "server.pem"),
                        os.path.join(a.certdir, "server.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)),
                     daemon=True).start()
    print("port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
