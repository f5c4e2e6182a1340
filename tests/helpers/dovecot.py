"""A real Dovecot (Debian's dovecot-imapd) for the Python integration tests.

The same recipe as tests/integration/dovecot.c: a private configuration in
a temporary directory, free loopback ports, plain IMAP (STARTTLS offered)
and implicit TLS with a certificate made at start time, a passwd-file user,
Maildir storage; started in the foreground and stopped by the test.
"""
import imaplib
import os
import socket
import subprocess
import time

USER = "reports"
PASSWORD = "s3cret-pw"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Dovecot:
    def __init__(self, directory, certs):
        """certs: the dict of tests/helpers/mkcerts.make."""
        self.dir = directory
        os.chmod(directory, 0o755)
        for sub in ("run", "state", "mail"):
            os.mkdir(os.path.join(directory, sub))
        subprocess.run(["chown", "dovecot:dovecot",
                        os.path.join(directory, "mail")], check=True)
        with open(os.path.join(directory, "passwd"), "w") as f:
            f.write("%s:{PLAIN}%s\n" % (USER, PASSWORD))
        self.port = free_port()
        self.port_tls = free_port()
        while self.port_tls == self.port:
            self.port_tls = free_port()
        d = directory
        conf = f"""base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{certs['server.pem']}
ssl_key = <{certs['server.key']}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_fsync = never
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port_tls}
    ssl = yes
  }}
}}
"""
        path = os.path.join(directory, "dovecot.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", path],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s" % self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("dovecot did not answer: %s" % self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""

    def client(self):
        m = imaplib.IMAP4("127.0.0.1", self.port)
        m.login(USER, PASSWORD)
        return m

    def append(self, mailbox, message):
        m = self.client()
        try:
            typ, _ = m.append(mailbox, None, None, message)
            if typ != "OK":
                raise RuntimeError("APPEND failed")
        finally:
            m.logout()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
