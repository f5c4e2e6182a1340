"""`meson install --destdir` (issue 10 item 3): what is installed, and that
it is sound.

- the tree holds the binary, both man pages, the annotated example
  configuration, the systemd unit and the sysusers.d file;
- the unit passes `systemd-analyze verify` (systemd need not run), with
  its paths those of this build;
- the man pages format without a groff warning, tlsrpt-collector(8) names
  every command of --help, tlsrpt-collector.conf(5) every section and key
  of the example configuration;
- the version is meson's project version, in one place;
- the binary is hardened (RELRO, bind-now, PIE) and does not link the
  libraries it opens on first use.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
import tap  # noqa: E402

BUILD = os.environ.get("TRPT_BUILD_ROOT")
ROOT = os.environ.get("TRPT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))


def introspect(what):
    out = subprocess.run(["meson", "introspect", BUILD, what],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main():
    if not BUILD:
        print("1..0 # SKIP TRPT_BUILD_ROOT not set")
        return 0
    opts = {o["name"]: o["value"] for o in introspect("--buildoptions")}
    prefix = opts["prefix"]
    version = introspect("--projectinfo")["version"]
    with tempfile.TemporaryDirectory() as dest:
        r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                            "--quiet", "--destdir", dest],
                           capture_output=True, text=True)
        tap.equal(r.returncode, 0, "meson install --destdir succeeds")
        if r.returncode != 0:
            print("# " + r.stderr.replace("\n", "\n# "))

        def inst(*parts):
            return os.path.join(dest, prefix.lstrip("/"), *parts)

        binary = inst(opts["bindir"], "tlsrpt-collector")
        man8 = inst(opts["mandir"], "man8", "tlsrpt-collector.8")
        man5 = inst(opts["mandir"], "man5", "tlsrpt-collector.conf.5")
        example = inst(opts["datadir"], "doc", "tlsrpt-collector",
                       "examples", "tlsrpt-collector.conf")
        unitdir = opts["systemdunitdir"] or os.path.join(
            prefix, "lib", "systemd", "system")
        sysusers = opts["sysusersdir"] or os.path.join(
            prefix, "lib", "sysusers.d")
        unit = os.path.join(dest, unitdir.lstrip("/"),
                            "tlsrpt-collector.service")
        users = os.path.join(dest, sysusers.lstrip("/"),
                             "tlsrpt-collector.conf")
        for path, what in [(binary, "the binary"), (man8, "man page (8)"),
                           (man5, "man page (5)"),
                           (example, "the example configuration"),
                           (unit, "the systemd unit"),
                           (users, "the sysusers.d file")]:
            tap.ok(os.path.isfile(path), "installed: %s (%s)"
                   % (what, os.path.relpath(path, dest)))
        tree = sorted(os.path.relpath(os.path.join(d, f), dest)
                      for d, _, fs in os.walk(dest) for f in fs)
        for line in tree:
            print("# tree: /%s" % line)
        tap.ok(os.access(binary, os.X_OK), "the binary is executable")

        r = subprocess.run([binary, "--version"], capture_output=True,
                           text=True)
        tap.equal(r.stdout.strip(), "tlsrpt-collector " + version,
                  "--version is meson's project version")

        # Hardening: full RELRO and every symbol bound at start (this
        # program reads hostile input), a PIE where the build says so
        # (b_pie, the default of a new build directory).  Start: the
        # libraries opened on first use (common/lib.h) are not linked.
        r = subprocess.run(["readelf", "-hdlW", binary], capture_output=True,
                           text=True)
        elf = r.stdout
        tap.ok(r.returncode == 0 and "GNU_RELRO" in elf
               and re.search(r"\(FLAGS(_1)?\)\s+(Flags: )?.*\bNOW\b",
                             elf) is not None,
               "the binary is linked -z relro -z now")
        if opts.get("b_pie"):
            tap.ok(re.search(r"\(FLAGS_1\)\s+Flags: .*\bPIE\b", elf)
                   is not None, "the binary is position-independent")
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]",
                            elf)
        lazy = [n for n in needed if re.match(
            r"lib(pq|curl|microhttpd|systemd|gnutls-dane|opendkim|unbound)"
            r"[.-]", n)]
        tap.ok(needed and not lazy, "the libraries opened on first use are "
               "not linked (%d linked)" % len(needed), "linked: %s" % lazy)

        # The unit, with the binary it names taken from the destdir
        # (systemd-analyze checks that ExecStart exists).
        with open(unit) as f:
            text = f.read()
        installed_bin = os.path.join(prefix, opts["bindir"],
                                     "tlsrpt-collector")
        tap.ok(installed_bin in text, "the unit runs the installed binary "
               "(%s)" % installed_bin)
        tap.ok(re.search(r"@[a-z]+@", text) is None,
               "no placeholder is left in the unit")
        for directive in ["User=tlsrpt-collector",
                          "StateDirectory=tlsrpt-collector",
                          "ProtectSystem=strict", "NoNewPrivileges=yes",
                          "PrivateTmp=yes", "RestrictAddressFamilies=",
                          "ExecReload=", " run"]:
            tap.ok(directive in text, "the unit has %s" % directive)
        with tempfile.TemporaryDirectory() as vdir:
            vunit = os.path.join(vdir, "tlsrpt-collector.service")
            with open(vunit, "w") as f:
                f.write(text.replace(installed_bin, binary))
            # Documentation= is checked with man(1): the installed pages.
            env = dict(os.environ)
            env["MANPATH"] = inst(opts["mandir"])
            r = subprocess.run(["systemd-analyze", "verify", vunit],
                               capture_output=True, text=True, cwd=vdir,
                               env=env)
            tap.ok(r.returncode == 0 and r.stderr.strip() == "",
                   "systemd-analyze verify passes", r.stderr)

        for page in (man8, man5):
            r = subprocess.run(["groff", "-man", "-ww", "-z", page],
                               capture_output=True, text=True)
            tap.ok(r.returncode == 0 and r.stderr == "",
                   "%s formats without warnings" % os.path.basename(page),
                   r.stderr)
        r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", man8],
                           capture_output=True, text=True)
        text8 = r.stdout
        help_text = subprocess.run([binary, "--help"], capture_output=True,
                                   text=True).stdout
        cmds = re.findall(r"^  (\w+)  ", help_text.split("Commands:")[1],
                          re.M)
        missing = [c for c in cmds if not re.search(r"^\s+%s\b" % c, text8,
                                                     re.M)]
        tap.ok(cmds and not missing, "tlsrpt-collector(8) describes every "
               "command (%d)" % len(cmds), "missing: %s" % missing)
        r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", man5],
                           capture_output=True, text=True)
        text5 = r.stdout
        with open(os.path.join(ROOT, "examples", "tlsrpt-collector.conf")) \
                as f:
            conf = f.read()
        keys = set(re.findall(r"^#?([a-z_]+) = ", conf, re.M))
        sections = set(re.findall(r"^#?\[(\w+)", conf, re.M))
        missing = sorted(k for k in keys
                         if not re.search(r"\b%s\b" % k, text5))
        missing += sorted("[%s]" % s for s in sections
                          if "[%s" % s not in text5)
        tap.ok(len(keys) > 20 and not missing, "tlsrpt-collector.conf(5) "
               "describes every section and key of the example (%d keys)"
               % len(keys), "missing: %s" % missing)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
