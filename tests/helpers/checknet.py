"""A small mail Internet on loopback for the tests of `check`.

    net = CheckNet(tmpdir); net.start(); ...; net.stop()

Everything is made at test time in tmpdir and served on 127.0.0.1 at free
ports:
  - certificates (certtool, from gnutls-bin): a test CA, CA-signed server
    certificates (valid, expired, for another name), a self-signed one;
  - the DNSSEC-signed zone check.example (ldns-keygen, ldns-signzone) with
    the unsigned child zone insecure.check.example, served by nsd; the
    trust anchor is the KSK's DS record (net.anchor), the resolver
    "127.0.0.1@PORT" (net.resolver).  One TLSA record is edited after
    signing, so its answer is bogus;
  - SMTP servers: one offering STARTTLS that picks the certificate by SNI
    (net.smtp_port), one without STARTTLS (net.plain_port), one speaking
    only TLS 1.0 (net.tls10_port), and two hostile ones: a greeting one
    byte a second (net.trickle_port), one endless line (net.flood_port);
  - an HTTPS server for MTA-STS policies, choosing its certificate by SNI
    and the policy by Host (net.https_port).
Every MX host and mta-sts host resolves to 127.0.0.1.
"""

import datetime
import hashlib
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import http.server

ZONE = "check.example"
CHILD = "insecure." + ZONE
# The domain of the test dataset's planted drop (tests/integration/
# test_analysis_cli.py): Google reports certificate-expired on mx2.
EXAMPLE = "example.com"
EXAMPLE_MX = {"mx1": "valid", "mx2": "expired"}

# MX host -> certificate kind served for its name (SNI).
MX_CERTS = {
    "mx-good": "valid",
    "mx-expired": "expired",
    "mx-mismatch": "othername",
    "mx-selfsigned": "selfsigned",
    "mx-dane-bad": "valid",
    "mx-bogus": "valid",
    "mx-notlsa": "valid",
    "mx-plain": "valid",
    "mx-tls10": "valid",
    "mx-hostile": "valid",
    "mx.insecure": "valid",
}

GOOD_POLICY = ("version: STSv1\r\nmode: enforce\r\nmx: mx-good.check.example"
               "\r\nmx: *.insecure.check.example\r\nmax_age: 86400\r\n")

# Test domain (label under check.example) -> (MX hosts, STS policy or None
# for no _mta-sts record, TLSRPT record or None).
TLSRPT = "v=TLSRPTv1; rua=mailto:tlsrpt@check.example"
DOMAINS = {
    "good": (["mx-good"], GOOD_POLICY, TLSRPT),
    "expired": (["mx-expired"], None, TLSRPT),
    "mismatch": (["mx-mismatch"], None, TLSRPT),
    "selfsigned": (["mx-selfsigned"], None, TLSRPT),
    "plain": (["mx-plain"], None, TLSRPT),
    "tls10": (["mx-tls10"], None, TLSRPT),
    "danebad": (["mx-dane-bad"], None, TLSRPT),
    "bogus": (["mx-bogus"], None, TLSRPT),
    "danemix": (["mx-good", "mx-notlsa"], None, TLSRPT),
    "stsbad": (["mx-good"], "version: STSv1\nmode: enforce\nmx mx-good\n",
               TLSRPT),
    "ststesting": (["mx-good"], GOOD_POLICY.replace("enforce", "testing"),
                   TLSRPT),
    "stswrongcert": (["mx-good"], GOOD_POLICY, TLSRPT),
    "stsnomatch": (["mx-good"], GOOD_POLICY.replace(
        "mx-good.check.example", "mx-other.check.example"), TLSRPT),
    "stsmissing": (["mx-good"], "", TLSRPT),  # _mta-sts TXT, no policy
    "bogusmx": (["mx-good"], None, TLSRPT),  # MX edited after signing
    "hostile": (["mx-hostile"], None, TLSRPT),  # trickle or flood
    "notlsrpt": (["mx-good"], None, None),
    "badrua": (["mx-good"], None, "v=TLSRPTv1; rua=ftp://example.org/x"),
    "xn--bcher-kva": (["mx-good"], None, TLSRPT),  # bücher
}


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CheckNet:
    def __init__(self, tmp):
        self.tmp = tmp
        self.certs = os.path.join(tmp, "certs")
        self.dns = os.path.join(tmp, "dns")
        os.mkdir(self.certs)
        os.mkdir(self.dns)
        self.nsd = None
        self.servers = []

    # ---- certificates ----

    def certtool(self, *args):
        subprocess.run(["certtool", *args], cwd=self.certs, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def key(self, name):
        path = os.path.join(self.certs, name + ".key")
        self.certtool("--generate-privkey", "--key-type=ecdsa",
                      "--outfile", path)
        return path

    def template(self, name, cn, dns=(), ca=False, expired=False):
        path = os.path.join(self.certs, name + ".tmpl")
        lines = ['cn = "%s"' % cn]
        lines += ['dns_name = "%s"' % d for d in dns]
        if ca:
            lines += ["ca", "cert_signing_key", "expiration_days = 3"]
        else:
            lines += ["tls_www_server", "signing_key"]
            now = datetime.datetime.now(datetime.timezone.utc)
            if expired:
                start = now - datetime.timedelta(days=60)
                end = now - datetime.timedelta(days=35)
            else:
                start = now - datetime.timedelta(hours=1)
                end = now + datetime.timedelta(days=3)
            fmt = "%Y-%m-%d %H:%M:%S"
            lines += ['activation_date = "%s"' % start.strftime(fmt),
                      'expiration_date = "%s"' % end.strftime(fmt)]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def make_cert(self, name, cn, dns, kind):
        key = self.key(name)
        out = os.path.join(self.certs, name + ".pem")
        if kind == "selfsigned":
            self.certtool("--generate-self-signed", "--load-privkey", key,
                          "--template", self.template(name, cn, dns),
                          "--outfile", out)
        else:
            self.certtool("--generate-certificate", "--load-privkey", key,
                          "--load-ca-certificate", self.ca,
                          "--load-ca-privkey", self.ca_key,
                          "--template", self.template(
                              name, cn, dns, expired=kind == "expired"),
                          "--outfile", out)
        return out, key

    def spki_sha256(self, cert):
        pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey",
                              "-noout"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform",
                              "DER"], input=pub.stdout, check=True,
                             capture_output=True)
        return hashlib.sha256(der.stdout).hexdigest()

    def make_certs(self):
        self.ca_key = self.key("ca")
        self.ca = os.path.join(self.certs, "ca.pem")
        self.certtool("--generate-self-signed", "--load-privkey",
                      self.ca_key, "--template",
                      self.template("ca", "check test CA", ca=True),
                      "--outfile", self.ca)
        self.mx = {}
        for label, kind in MX_CERTS.items():
            host = "%s.%s" % (label, ZONE)
            names = ["other." + ZONE] if kind == "othername" else [host]
            self.mx[host] = self.make_cert(label, names[0], names, kind)
        for label, kind in EXAMPLE_MX.items():
            host = "%s.%s" % (label, EXAMPLE)
            self.mx[host] = self.make_cert("ex-" + label, host, [host], kind)
        self.sts = {}
        host = "mta-sts." + EXAMPLE
        self.sts[host] = self.make_cert("sts-example", host, [host], "valid")
        for d in DOMAINS:
            host = "mta-sts.%s.%s" % (d, ZONE)
            names = ["wrong." + ZONE] if d == "stswrongcert" else [host]
            self.sts[host] = self.make_cert("sts-" + d, names[0], names,
                                            "valid")
        self.other_key_cert = self.make_cert("unrelated", "unrelated." +
                                             ZONE, ["unrelated." + ZONE],
                                             "valid")[0]

    # ---- DNS ----

    def zone_text(self):
        z = ["$ORIGIN %s." % ZONE, "$TTL 300",
             "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300" % (ZONE,
                                                                  ZONE),
             "@ NS ns", "ns A 127.0.0.1",
             "insecure NS ns.insecure", "ns.insecure A 127.0.0.1"]
        for label in MX_CERTS:
            if label.endswith(".insecure"):
                continue
            z.append("%s A 127.0.0.1" % label)
        good = self.spki_sha256(self.mx["mx-good." + ZONE][0])
        other = self.spki_sha256(self.other_key_cert)
        for label in ("mx-good", "mx-bogus", "mx-expired", "mx-mismatch",
                      "mx-plain", "mx-tls10"):
            # DANE only where asked: most cases test WebPKI.
            if label in ("mx-good", "mx-bogus"):
                digest = self.spki_sha256(self.mx[label + "." + ZONE][0])
                z.append("_25._tcp.%s TLSA 3 1 1 %s" % (label, digest))
        z.append("_25._tcp.mx-dane-bad TLSA 3 1 1 %s" % other)
        z.append("_25._tcp.mx-dane-bad TLSA 3 1 1 %s" % other[::-1])
        self.good_tlsa = good
        for d, (mxs, policy, tlsrpt) in DOMAINS.items():
            for i, m in enumerate(mxs):
                z.append("%s MX %d %s.%s." % (d, 10 * (i + 1), m, ZONE))
            if tlsrpt is not None:
                z.append('_smtp._tls.%s TXT "%s"' % (d, tlsrpt))
            if policy is not None:
                z.append('_mta-sts.%s TXT "v=STSv1; id=20261130"' % d)
                z.append("mta-sts.%s A 127.0.0.1" % d)
        return "\n".join(z) + "\n"

    def child_text(self):
        digest = self.spki_sha256(self.mx["mx.insecure." + ZONE][0])
        return "\n".join([
            "$ORIGIN %s." % CHILD, "$TTL 300",
            "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300" % (CHILD,
                                                                 CHILD),
            "@ NS ns", "ns A 127.0.0.1", "mx A 127.0.0.1",
            "_25._tcp.mx TLSA 3 1 1 %s" % digest,
            "@ MX 10 mx", '_smtp._tls TXT "%s"' % TLSRPT]) + "\n"

    def example_text(self):
        return "\n".join([
            "$ORIGIN %s." % EXAMPLE, "$TTL 300",
            "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300" % (EXAMPLE,
                                                                 EXAMPLE),
            "@ NS ns", "ns A 127.0.0.1", "mx1 A 127.0.0.1",
            "mx2 A 127.0.0.1", "mta-sts A 127.0.0.1",
            "@ MX 10 mx1", "@ MX 20 mx2",
            '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"',
            '_mta-sts TXT "v=STSv1; id=20260101"']) + "\n"

    def make_zone(self):
        def run(*args):
            return subprocess.run(list(args), cwd=self.dns, check=True,
                                  capture_output=True,
                                  text=True).stdout.strip()
        ksk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", ZONE)
        zsk = run("ldns-keygen", "-a", "ECDSAP256SHA256", ZONE)
        zone = os.path.join(self.dns, "zone")
        with open(zone, "w") as f:
            f.write(self.zone_text())
        run("ldns-signzone", zone, ksk, zsk)
        # The answer for mx-bogus's TLSA no longer fits its signature.
        signed = zone + ".signed"
        with open(signed) as f:
            text = f.read()
        digest = self.spki_sha256(self.mx["mx-bogus." + ZONE][0])
        if digest not in text:
            raise RuntimeError("signed zone lacks the mx-bogus TLSA")
        text = text.replace(digest, digest[::-1])
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("bogusmx.%s." % ZONE) and "\tMX\t" in line:
                lines[i] = line.replace("mx-good", "mx-expired")
                break
        else:
            raise RuntimeError("signed zone lacks the bogusmx MX")
        with open(signed, "w") as f:
            f.write("\n".join(lines))
        with open(os.path.join(self.dns, "child"), "w") as f:
            f.write(self.child_text())
        eksk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", EXAMPLE)
        ezsk = run("ldns-keygen", "-a", "ECDSAP256SHA256", EXAMPLE)
        with open(os.path.join(self.dns, "example"), "w") as f:
            f.write(self.example_text())
        run("ldns-signzone", "example", eksk, ezsk)
        # Both zones' DS records: libunbound takes several anchors.
        self.anchor = os.path.join(self.dns, "anchors.ds")
        with open(self.anchor, "w") as out:
            for k in (ksk, eksk):
                with open(os.path.join(self.dns, k + ".ds")) as f:
                    out.write(f.read())

    def start_nsd(self):
        # A port free for UDP may be taken for TCP (nsd binds both), or
        # taken between the probe and nsd's bind: try a few.
        for attempt in range(5):
            try:
                return self.try_nsd()
            except RuntimeError:
                if self.nsd is not None and self.nsd.poll() is None:
                    self.nsd.terminate()
                    self.nsd.wait(10)
                if attempt == 4:
                    raise

    def try_nsd(self):
        self.dns_port = free_port(socket.SOCK_DGRAM)
        conf = os.path.join(self.dns, "nsd.conf")
        d = self.dns
        with open(conf, "w") as f:
            f.write(
                "server:\n"
                "  ip-address: 127.0.0.1@%d\n"
                '  username: ""\n  chroot: ""\n  database: ""\n'
                "  zonesdir: %s\n  pidfile: %s/nsd.pid\n"
                "  xfrdfile: %s/xfrd.state\n"
                "  zonelistfile: %s/zone.list\n"
                "  logfile: %s/nsd.log\n  verbosity: 1\n"
                "remote-control:\n  control-enable: no\n"
                "zone:\n  name: %s\n  zonefile: %s/zone.signed\n"
                "zone:\n  name: %s\n  zonefile: %s/child\n"
                "zone:\n  name: %s\n  zonefile: %s/example.signed\n"
                % (self.dns_port, d, d, d, d, d, ZONE, d, CHILD, d,
                   EXAMPLE, d))
        self.nsd = subprocess.Popen(["nsd", "-d", "-c", conf],
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        self.resolver = "127.0.0.1@%d" % self.dns_port
        q = (b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
             b"".join(bytes([len(p)]) + p.encode()
                      for p in ZONE.split(".")) + b"\x00\x00\x06\x00\x01")
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.nsd.poll() is not None:
                raise RuntimeError("nsd exited: see %s/nsd.log" % d)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.dns_port))
                if s.recv(512)[:2] == b"\x12\x34":
                    return
            except OSError:
                time.sleep(0.1)
            finally:
                s.close()
        raise RuntimeError("nsd did not answer")

    # ---- SMTP and HTTPS ----

    def server_context(self, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def sni_context(self, certs, default):
        contexts = {h: self.server_context(*ck) for h, ck in certs.items()}
        ctx = self.server_context(*default)

        def pick(sock, name, _ctx):
            if name in contexts:
                sock.context = contexts[name]
        ctx.sni_callback = pick
        return ctx

    def start_smtp(self, mode):
        net = self
        if mode == "tls10":
            ctx = self.server_context(*self.mx["mx-tls10." + ZONE])
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        else:
            ctx = self.sni_context(self.mx, self.mx["mx-good." + ZONE])

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def reply(self, text):
                self.wfile.write(text.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self):
                if mode == "trickle":  # one byte a second, forever
                    for _ in range(600):
                        self.wfile.write(b"2")
                        self.wfile.flush()
                        time.sleep(1)
                    return
                if mode == "flood":  # a greeting that never ends
                    for _ in range(1000):
                        self.wfile.write(b"220-" + b"x" * 4096)
                    return
                self.reply("220 mx.test ESMTP checknet")
                conn = self.request
                f = self.rfile
                while True:
                    line = f.readline(1024)
                    if not line:
                        return
                    cmd = line.strip().upper()
                    if cmd.startswith(b"EHLO"):
                        exts = ["250-mx.test", "250-PIPELINING"]
                        if mode != "plain":
                            exts.append("250-STARTTLS")
                        exts.append("250 8BITMIME")
                        self.reply("\r\n".join(exts))
                    elif cmd == b"STARTTLS" and mode != "plain":
                        self.reply("220 go ahead")
                        try:
                            conn = ctx.wrap_socket(conn, server_side=True)
                        except (ssl.SSLError, OSError):
                            return
                        self.request = conn
                        f = conn.makefile("rb")
                        self.wfile = conn.makefile("wb")
                    elif cmd == b"QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not here")
                _ = net

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client leaving mid-TLS is what some tests do

        srv = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers.append(srv)
        return srv.server_address[1]

    def start_https(self):
        policies = {"mta-sts." + EXAMPLE: "version: STSv1\nmode: enforce\n"
                    "mx: *.example.com\nmax_age: 86400\n"}
        for d, (_mx, policy, _t) in DOMAINS.items():
            if policy:
                policies["mta-sts.%s.%s" % (d, ZONE)] = policy
        ctx = self.sni_context(self.sts, self.sts["mta-sts.good." + ZONE])

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                body = policies.get(host)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    status, body = 404, "not found\n"
                else:
                    status = 200
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                sock.settimeout(10)
                return ctx.wrap_socket(sock, server_side=True), addr

            def handle_error(self, request, client_address):
                pass

        srv = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers.append(srv)
        return srv.server_address[1]

    def start(self):
        self.make_certs()
        self.make_zone()
        self.start_nsd()
        self.smtp_port = self.start_smtp("starttls")
        self.plain_port = self.start_smtp("plain")
        self.tls10_port = self.start_smtp("tls10")
        self.trickle_port = self.start_smtp("trickle")
        self.flood_port = self.start_smtp("flood")
        self.https_port = self.start_https()

    def args(self, port=None):
        """The check options that point at this network."""
        return ["--resolver", self.resolver, "--trust-anchor", self.anchor,
                "--ca-file", self.ca, "--smtp-port",
                str(port or self.smtp_port), "--https-port",
                str(self.https_port), "--helo", "client.check.example",
                "--timeout", "5"]

    def stop(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        if self.nsd is not None:
            self.nsd.terminate()
            try:
                self.nsd.wait(10)
            except subprocess.TimeoutExpired:
                self.nsd.kill()
                self.nsd.wait()
