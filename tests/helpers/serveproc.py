"""Starting `tlsrpt-collector serve` in an integration test and stopping it.

    conf = serveproc.config(tmp, "name", "[serve]\\nrate_limit = 0\\n")
    srv = serveproc.start(tmp, "name", db, conf)
    ... srv.port, srv.scheme, srv.url, srv.dashboard ...
    rc, err = srv.stop()

Serve(...) starts the process on a free loopback port (--listen
127.0.0.1:0) with its stderr in a file of the test's directory (never a
pipe nobody reads, which a chatty serve would fill and block on);
ready() reads stdout up to serve's "listening on URL" line (after the
"dashboard on URL" line when the dashboard runs) and fills port, scheme,
url (and dashboard).  start() is both, and raises when serve did not
start.  Two Serve(...) then ready() start two processes at once.

stop() sends SIGTERM (unless told not to, or the process has ended),
waits, kills it after the timeout, and returns (exit code, stderr text);
the exit code is None when it had to be killed.  It may be called again
(a finally: after the test's own stop) and returns the same.  What serve
printed on stdout after "listening on" (its summary) is in .out.
"""
import os
import re
import select
import signal
import subprocess
import time

BINARY = os.environ.get("TRPT_BINARY", "tlsrpt-collector")
_LISTENING = re.compile(r"listening on ((https?)://\S+:(\d+))/?$")
_DASHBOARD = re.compile(r"dashboard on (\S+)")


def config(tmp, name, text):
    """Writes text to tmp/name.conf, mode 0600 (serve refuses a config
    others may read when it holds secrets); returns its path."""
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


class Serve:
    def __init__(self, tmp, name, db, conf=None, args=(), prefix=(),
                 binary=None):
        self.db = db
        self.errpath = os.path.join(tmp, name + ".stderr")
        self.port = self.scheme = self.url = self.dashboard = None
        self.lines = []  # stdout lines read by ready()
        self.out = ""  # stdout after "listening on", read by stop()
        self.rc = None
        self._stopped = False
        self._err = open(self.errpath, "w")
        cmd = list(prefix) + [binary or BINARY, "--db", db]
        if conf is not None:
            cmd += ["--config", conf]
        cmd += ["serve", "--listen", "127.0.0.1:0"] + list(args)
        # Unbuffered: a buffered readline could take the next line into
        # its buffer, where select() does not see it.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self._err, bufsize=0)

    def ready(self, timeout=30, check=False):
        """Reads stdout up to "listening on URL"; False when serve ended
        or said nothing of it within timeout seconds.  With check, that
        stops it and raises RuntimeError with what serve said instead."""
        deadline = time.monotonic() + timeout
        while self.port is None:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            line = (self.proc.stdout.readline().decode(errors="replace")
                    if r else "")
            line = line.rstrip("\n")
            if not line:
                break
            self.lines.append(line + "\n")
            m = _DASHBOARD.match(line)
            if m:
                self.dashboard = m.group(1).rstrip("/")
            m = _LISTENING.match(line)
            if m:
                self.url = m.group(1)
                self.scheme = m.group(2)
                self.port = int(m.group(3))
        if self.port is None and check:
            rc, err = self.stop(timeout=5)
            raise RuntimeError("serve did not start: %r; exit %r; stderr: %s"
                               % ("".join(self.lines), rc, err[-2000:]))
        return self.port is not None

    def stderr(self):
        """What serve wrote to stderr so far."""
        if not self._err.closed:
            self._err.flush()
        with open(self.errpath, errors="replace") as f:
            return f.read()

    def stop(self, timeout=30, signal_it=True):
        """SIGTERM, wait, kill after timeout: (exit code or None, stderr)."""
        if not self._stopped:
            if signal_it and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.rc = None
            self.out = self.proc.stdout.read().decode(errors="replace")
            self.proc.stdout.close()
            self._err.close()
            self._stopped = True
        return self.rc, self.stderr()


def start(tmp, name, db, conf=None, timeout=30, **kw):
    """Serve(...) and ready(check=True): raises RuntimeError (with what
    serve said) when it did not start."""
    srv = Serve(tmp, name, db, conf, **kw)
    srv.ready(timeout, check=True)
    return srv
