#!/usr/bin/env python3
"""DKIM verification benchmark (issue 12): e-mails/s with and without
verification, keys cached.  Prints figures; asserts nothing.

    bench/dkim-bench.py BENCH_DKIM BINARY [WORKDIR] [--mails N] [--keys K]
                        [--rounds R]

Makes K RSA-2048 keys, N report e-mails signed with them (dkimpy; mail i
uses key i mod K), serves the keys with nsd on loopback, then runs
  - bench/bench_dkim (in process: verification alone, and the pipeline
    with and without it), and
  - `tlsrpt-collector ingest WORKDIR/mails` end to end with [dkim]
    require = no and require = warn (best of R runs each).
meson test -C build --benchmark dkim -v runs it with the defaults.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "helpers"))
import dkimlab  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("binary")
    ap.add_argument("workdir", nargs="?")
    ap.add_argument("--mails", type=int, default=2000)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="trpt-dkim-bench-")
    shutil.rmtree(work, ignore_errors=True)
    mails = os.path.join(work, "mails")
    os.makedirs(mails)
    zone = dkimlab.Zone(work)
    keys = []
    for k in range(a.keys):
        pem, pub = dkimlab.new_key(work, "k%d" % k, 2048)
        zone.key("s%d" % k, "google.com", pub, ttl=3600)
        keys.append(pem)
    t0 = time.monotonic()
    for i in range(a.mails):
        msg = dkimlab.report_mail("Google Inc.", "bench-%06d" % i,
                                  "smtp-tls-reporting@google.com",
                                  "google.com", "example.com")
        with open(os.path.join(mails, "%06d.eml" % i), "wb") as f:
            f.write(dkimlab.sign(msg, "s%d" % (i % a.keys), "google.com",
                                 keys[i % a.keys]))
    print("signed %d e-mails with %d keys (dkimpy, %.1f s)"
          % (a.mails, a.keys, time.monotonic() - t0), flush=True)
    port = zone.start()
    ns = "127.0.0.1:%d" % port
    try:
        subprocess.run([a.bench, mails, ns, str(a.rounds)], check=True)
        print("end to end: tlsrpt-collector ingest of the %d e-mails, "
              "best of %d runs" % (a.mails, a.rounds))
        best = {}
        for require in ("no", "warn"):
            conf = os.path.join(work, require + ".conf")
            with open(conf, "w") as f:
                f.write("[dkim]\nrequire = %s\nnameserver = %s\n"
                        % (require, ns))
            os.chmod(conf, 0o600)
            for _ in range(a.rounds):
                db = os.path.join(work, "e2e.db")
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(db + suffix):
                        os.unlink(db + suffix)
                t = time.monotonic()
                subprocess.run([a.binary, "--db", db, "--config", conf, "-q",
                                "ingest", mails], check=True)
                t = time.monotonic() - t
                best[require] = min(best.get(require, t), t)
            print("  require = %-4s  %8.0f e-mails/s" %
                  (require, a.mails / best[require]))
        print("  cost of verification end to end: %.1f us per e-mail "
              "(keys fetched once per run, then cached)"
              % ((best["warn"] - best["no"]) / a.mails * 1e6))
    finally:
        zone.stop()
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
