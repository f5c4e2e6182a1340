"""The quick start and the test command touch no service (issue 10 item 6).

tools/deps.sh runs here with stand-ins for dpkg-query (saying Dovecot,
nginx and aiosmtpd are missing), apt-get, systemctl, service and
invoke-rc.d on PATH, each recording how it was called, while a stand-in
"service" (a sleeping process) runs.  The checks: no systemctl, service or
invoke-rc.d call at all; apt-get installs only the missing packages; while
apt-get runs, the policy-rc.d refuses every start (exit 101) and it is gone
afterwards; an administrator's own policy-rc.d is left byte for byte; the
running process is untouched; the quick start's deps step installs no test
server.  Plus a static check that no shell script in tools/ stops,
disables, masks or restarts a service.

What this cannot prove: what a real package's maintainer scripts do.
Debian's scripts start services only through invoke-rc.d or
deb-systemd-invoke, which both obey policy-rc.d; that is what is checked.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
import tap  # noqa: E402

ROOT = os.environ.get("TRPT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))
DEPS = os.path.join(ROOT, "tools", "deps.sh")

MISSING = ["dovecot-imapd", "nginx", "python3-aiosmtpd"]


def stub(bindir, name, body):
    path = os.path.join(bindir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


def setup(tmp):
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    log = os.path.join(tmp, "calls.log")
    policy = os.path.join(tmp, "policy-rc.d")
    # dpkg-query: everything installed except MISSING.
    stub(bindir, "dpkg-query",
         'case " %s " in *" $3 "*) exit 1;; esac\n'
         'printf "install ok installed"\n' % " ".join(MISSING))
    stub(bindir, "id", 'echo 0\n')
    # apt-get records its arguments and, for install, what the policy
    # answers to a start of dovecot at that moment.
    stub(bindir, "apt-get",
         'echo "apt-get $*" >>"%s"\n'
         'if [ "$1" = install ]; then\n'
         '  if [ -x "%s" ]; then "%s" dovecot start; '
         'echo "policy-start=$?" >>"%s"; '
         'else echo "policy-start=none" >>"%s"; fi\n'
         'fi\n' % (log, policy, policy, log, log))
    for name in ["systemctl", "service", "invoke-rc.d",
                 "deb-systemd-invoke"]:
        stub(bindir, name, 'echo "%s $*" >>"%s"\n' % (name, log))
    return bindir, log, policy


def run_deps(tmp, bindir, policy, *args):
    env = dict(os.environ)
    env["PATH"] = bindir + ":" + env.get("PATH", "/usr/bin:/bin")
    env["TRPT_POLICY_RC_D"] = policy
    return subprocess.run(["sh", DEPS] + list(args), env=env,
                          capture_output=True, text=True, timeout=60)


def calls(log):
    try:
        with open(log) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def main():
    # Static: no script in tools/ stops, disables, masks or restarts a
    # service (the old deps.sh ran "systemctl disable --now dovecot nginx").
    bad = re.compile(r"\b(systemctl|service|invoke-rc\.d|deb-systemd-invoke)"
                     r"\b[^\n#]*\b(stop|disable|mask|restart|reload|kill|"
                     r"--now)\b")
    offenders = []
    tools = os.path.join(ROOT, "tools")
    for name in sorted(os.listdir(tools)):
        if not name.endswith(".sh"):
            continue
        with open(os.path.join(tools, name)) as f:
            for n, line in enumerate(f, 1):
                code = line.split("#", 1)[0]
                if bad.search(code):
                    offenders.append("%s:%d: %s" % (name, n, line.strip()))
    tap.ok(not offenders, "no script in tools/ stops or disables a service",
           "\n".join(offenders))

    with tempfile.TemporaryDirectory() as tmp:
        bindir, log, policy = setup(tmp)
        sleeper = subprocess.Popen(["sleep", "300"])
        try:
            r = run_deps(tmp, bindir, policy, "--test")
            tap.equal(r.returncode, 0, "deps.sh --test succeeds")
            c = calls(log)
            touched = [x for x in c if not x.startswith(("apt-get",
                                                         "policy-start"))]
            tap.equal(touched, [], "no systemctl, service or invoke-rc.d "
                      "call")
            inst = [x for x in c if x.startswith("apt-get") and
                    " install " in x]
            tap.ok(len(inst) == 1 and
                   all(p in inst[0] for p in MISSING) and
                   "meson" not in inst[0], "only the missing packages are "
                   "installed", "\n".join(c))
            tap.ok("policy-start=101" in c, "while installing, the policy "
                   "refuses to start a service", "\n".join(c))
            tap.ok(not os.path.exists(policy), "the temporary policy-rc.d is "
                   "removed afterwards")
            tap.equal(sleeper.poll(), None, "a running process is untouched")
        finally:
            sleeper.kill()
            sleeper.wait()

    with tempfile.TemporaryDirectory() as tmp:
        bindir, log, policy = setup(tmp)
        own = "#!/bin/sh\n# the administrator's policy\nexit 0\n"
        with open(policy, "w") as f:
            f.write(own)
        os.chmod(policy, 0o755)
        r = run_deps(tmp, bindir, policy, "--test")
        tap.equal(r.returncode, 0, "deps.sh --test with an existing policy")
        with open(policy) as f:
            tap.equal(f.read(), own, "an administrator's policy-rc.d is left "
                      "as it was")
        tap.equal([x for x in calls(log) if not x.startswith(
            ("apt-get", "policy-start"))], [], "still no service call")

    with tempfile.TemporaryDirectory() as tmp:
        bindir, log, policy = setup(tmp)
        r = run_deps(tmp, bindir, policy)
        tap.equal(r.returncode, 0, "deps.sh (quick start) succeeds")
        tap.equal([x for x in calls(log) if x.startswith("apt-get")], [],
                  "the quick start installs no test server")

    with open(os.path.join(ROOT, "tools", "quickstart.sh")) as f:
        qs = f.read()
    tap.ok(re.search(r"^sh tools/deps\.sh\s*$", qs, re.M) is not None,
           "quickstart.sh runs deps.sh without --test")
    with open(os.path.join(ROOT, "tools", "test.sh")) as f:
        ts = f.read()
    tap.ok("tools/deps.sh --test" in ts, "test.sh installs the test packages")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
