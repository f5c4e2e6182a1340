"""A DKIM laboratory for the tests: keys made at test time, a zone served
by a real authoritative DNS server (nsd) on a free loopback port, and TLS
report e-mails signed with dkimpy (Debian's python3-dkim).

nsd serves the root zone ".", so that every name the tests do not publish
(the corpus senders' selectors among them) gets an authoritative NXDOMAIN
instead of a referral nobody answers.
"""

import base64
import gzip
import json
import os
import socket
import subprocess
import time

import dkim  # python3-dkim

NSD = "/usr/sbin/nsd"
CRLF = b"\r\n"


def free_port(kind=socket.SOCK_DGRAM):
    """A port free for both UDP and TCP on 127.0.0.1 (nsd binds both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def new_key(tmp, name, bits=2048):
    """An RSA key made with openssl: (private PEM bytes, base64 public)."""
    path = os.path.join(tmp, name + ".pem")
    subprocess.run(["openssl", "genrsa", "-out", path, str(bits)],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "rsa", "-in", path, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    with open(path, "rb") as f:
        pem = f.read()
    return pem, base64.b64encode(der).decode()


def txt_rdata(text):
    """A TXT record's rdata in zone syntax: strings of at most 255 bytes
    (a 2048-bit key does not fit in one)."""
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"%s"' % c for c in chunks)


class Zone:
    """Records of the root zone; start() runs nsd on them."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.records = []
        self.proc = None
        self.port = None

    def txt(self, name, text, ttl=300):
        self.records.append("%s. %d IN TXT %s" % (name, ttl, txt_rdata(text)))

    def key(self, selector, domain, p, extra="", ttl=300):
        rec = "v=DKIM1; k=rsa; %sp=%s" % (extra, p)
        self.txt("%s._domainkey.%s" % (selector, domain), rec, ttl)

    def start(self):
        zf = os.path.join(self.tmp, "root.zone")
        with open(zf, "w") as f:
            f.write("$TTL 300\n"
                    ". IN SOA ns.lab. hostmaster.lab. 1 3600 600 86400 60\n"
                    ". IN NS ns.lab.\n"
                    "ns.lab. IN A 127.0.0.1\n")
            f.write("\n".join(self.records) + "\n")
        self.port = free_port()
        conf = os.path.join(self.tmp, "nsd.conf")
        with open(conf, "w") as f:
            f.write('server:\n'
                    '  ip-address: 127.0.0.1@%d\n'
                    '  username: ""\n'
                    '  chroot: ""\n'
                    '  database: ""\n'
                    '  zonesdir: "%s"\n'
                    '  pidfile: "%s/nsd.pid"\n'
                    '  xfrdfile: "%s/xfrd.state"\n'
                    '  zonelistfile: "%s/zone.list"\n'
                    '  logfile: "%s/nsd.log"\n'
                    '  server-count: 1\n'
                    '  verbosity: 0\n'
                    'remote-control:\n'
                    '  control-enable: no\n'
                    'zone:\n'
                    '  name: "."\n'
                    '  zonefile: "%s"\n'
                    % (self.port, self.tmp, self.tmp, self.tmp, self.tmp,
                       self.tmp, zf))
        self.proc = subprocess.Popen([NSD, "-d", "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_ready()
        return self.port

    def _wait_ready(self):
        """Waits until nsd answers the SOA of the root (up to 10 s)."""
        q = (b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x00\x00\x06\x00\x01")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nsd exited with %d (see %s/nsd.log)"
                                   % (self.proc.returncode, self.tmp))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                data, _ = s.recvfrom(512)
                if data[:2] == b"\x12\x34":
                    return
            except OSError:
                pass
            finally:
                s.close()
        raise RuntimeError("nsd did not answer on port %d" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def silent_server():
    """A UDP and TCP socket bound on loopback that never answers: a DNS
    server that does not respond.  Returns (port, sockets to close)."""
    port = free_port()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", port))
    t.listen(16)
    return port, [u, t]


def report_json(org, report_id, contact, policy_domain, begin="2026-11-20",
                success=10, failed=0):
    return json.dumps({
        "organization-name": org,
        "date-range": {"start-datetime": begin + "T00:00:00Z",
                       "end-datetime": begin + "T23:59:59Z"},
        "contact-info": contact,
        "report-id": report_id,
        "policies": [{
            "policy": {"policy-type": "no-policy-found",
                       "policy-domain": policy_domain},
            "summary": {"total-successful-session-count": success,
                        "total-failure-session-count": failed},
        }],
    }).encode()


def report_mail(org, report_id, contact, submitter, policy_domain,
                from_addr=None, subject_id=None, success=10, failed=0):
    """An RFC 8460 §5.3 report e-mail with CRLF line ends."""
    body = gzip.compress(report_json(org, report_id, contact, policy_domain,
                                     success=success, failed=failed),
                         mtime=0)
    b64 = base64.encodebytes(body).replace(b"\n", CRLF)
    from_addr = from_addr or contact
    boundary = b"----=_lab_" + report_id.encode()
    head = [
        b"From: " + from_addr.encode(),
        b"To: tlsrpt@" + policy_domain.encode(),
        b"Subject: Report Domain: " + policy_domain.encode() +
        b" Submitter: " + submitter.encode() + b" Report-ID: <" +
        (subject_id or report_id).encode() + b"@" + submitter.encode() + b">",
        b"Date: Sat, 21 Nov 2026 01:02:03 +0000",
        b"Message-ID: <" + report_id.encode() + b"@" +
        submitter.encode() + b">",
        b"TLS-Report-Domain: " + policy_domain.encode(),
        b"TLS-Report-Submitter: " + submitter.encode(),
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/report; report-type="tlsrpt";'
        b' boundary="' + boundary + b'"',
    ]
    parts = [
        b"--" + boundary,
        b"Content-Type: text/plain; charset=us-ascii",
        b"",
        b"This is an aggregate TLS report from " + submitter.encode(),
        b"",
        b"--" + boundary,
        b"Content-Type: application/tlsrpt+gzip",
        b"Content-Transfer-Encoding: base64",
        b'Content-Disposition: attachment; filename="' +
        submitter.encode() + b"!" + policy_domain.encode() +
        b'!1795132800!1795219199.json.gz"',
        b"",
        b64.rstrip(CRLF),
        b"",
        b"--" + boundary + b"--",
        b"",
    ]
    return CRLF.join(head) + CRLF + CRLF + CRLF.join(parts)


SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id",
                  b"tls-report-domain", b"tls-report-submitter",
                  b"mime-version", b"content-type"]


def sign(msg, selector, domain, pem, length=False, headers=None):
    """msg with a DKIM-Signature by d=domain, s=selector prepended."""
    sig = dkim.sign(msg, selector.encode(), domain.encode(), pem,
                    include_headers=headers or SIGNED_HEADERS,
                    length=length, linesep=CRLF)
    return sig + msg


def serve_main(tmp):
    """For the C unit tests: a key for d=google.com s=sel published with a
    TTL of 60 s, tmp/valid.eml signed with it, and nsd serving the zone.
    Prints the port; "stop" on standard input stops nsd (answered by
    "stopped"), end of input ends it all."""
    import sys
    pem, pub = new_key(tmp, "unit", 1024)
    zone = Zone(tmp)
    zone.key("sel", "google.com", pub, ttl=60)
    zone.key("tr", "google.com", pub, extra="s=tlsrpt; ", ttl=60)
    zone.key("other", "google.com", pub, extra="s=other; ", ttl=60)
    msg = report_mail("Google Inc.", "unit", "smtp-tls-reporting@google.com",
                      "google.com", "example.com")
    for name, sel in (("valid", "sel"), ("tlsrpt", "tr"),
                      ("other", "other")):
        with open(os.path.join(tmp, name + ".eml"), "wb") as f:
            f.write(sign(msg, sel, "google.com", pem))
    port = zone.start()
    print(port, flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "stop":
                zone.stop()
                print("stopped", flush=True)
    finally:
        zone.stop()


if __name__ == "__main__":
    import sys
    serve_main(sys.argv[1])
