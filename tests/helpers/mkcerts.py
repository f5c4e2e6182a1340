#!/usr/bin/env python3
"""Makes a throw-away CA and a server certificate for 127.0.0.1/localhost.

Used by the integration tests: nothing is kept, every run makes its own.
Writes ca.pem, server.pem and server.key into the directory given.
"""

import os
import subprocess
import sys


def make(directory):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=tlsrpt-collector test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
        "-days", "2", "-extfile", "ext.cnf")
    for name in ("ca.key", "server.key"):
        os.chmod(os.path.join(directory, name), 0o600)
    return {name: os.path.join(directory, name)
            for name in ("ca.pem", "server.pem", "server.key")}


if __name__ == "__main__":
    make(sys.argv[1])
