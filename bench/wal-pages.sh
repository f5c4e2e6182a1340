#!/bin/sh
# Which pages each of serve's commits writes (see docs/PERFORMANCE.md,
# "Stop 27: serve, the committer").
#
#   bench/wal-pages.sh [BUILD-DIR] [REQUESTS] [CONNECTIONS] [COMMITS]
#
# Starts serve on a fresh database in a temporary directory, holds a read
# transaction open on it (so that no checkpoint can start the log over:
# every frame stays in it), posts REQUESTS reports from CONNECTIONS
# connections with bench/http_load.c, kills serve (SIGKILL: a clean close
# would checkpoint and delete the log), then reads the log: its frames
# grouped by commit, and each page named by its B-tree and page type with
# SQLite's dbstat on a copy.  Prints the pages a commit of the last
# COMMITS commits (default 200) by B-tree, and the database's growth.
# Needs cc, zlib and GnuTLS headers, and python3 with a SQLite that has
# dbstat (Debian's has).
set -eu

build=${1:-build}
requests=${2:-4000}
conns=${3:-16}
last=${4:-200}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/serve-start.sh
. "$here/serve-start.sh"
bin=$(cd "$build" && pwd)/collector/tlsrpt-collector
tmp=$(mktemp -d)
pid=
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	wait 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cc -O2 -pthread -o "$tmp/http_load" "$here/http_load.c" -lz -lgnutls
printf '[serve]\nrate_limit = 0\nmax_connections_per_client = 100000\n' \
    > "$tmp/conf"
chmod 600 "$tmp/conf"
serve_start "$tmp/err"
"$tmp/http_load" 127.0.0.1 "$port" 4 400 warmup 50 > /dev/null

# The reader: a snapshot held until killed.
python3 - "$tmp/db" "$tmp/held" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN")
c.execute("SELECT count(*) FROM reports").fetchone()
open(sys.argv[2], "w").close()
time.sleep(3600)
PY
holder=$!
while [ ! -e "$tmp/held" ]; do sleep 0.1; done
# tlsrpt_http_commits_total, for the POSTs a commit.
commits() {
	python3 - "$port" <<'PY2'
import re, sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1],
                              timeout=30).read().decode()
m = re.search(r"^tlsrpt_http_commits_total ([0-9]+)$", text, re.M)
print(m.group(1) if m else 0)
PY2
}
k0=$(commits)
"$tmp/http_load" 127.0.0.1 "$port" "$conns" "$requests" run 50
k1=$(commits)
[ "$k1" -gt "$k0" ] && echo "$(((requests * 10 / (k1 - k0) + 5) / 10)) POSTs a commit"
kill -9 "$pid"
wait "$pid" 2>/dev/null || :
pid=
kill "$holder"
wait "$holder" 2>/dev/null || :
holder=

mkdir "$tmp/copy"
cp "$tmp/db" "$tmp/db-wal" "$tmp/copy/"
python3 - "$tmp/copy/db" "$last" <<'PY'
import collections, sqlite3, struct, sys

path, last = sys.argv[1], int(sys.argv[2])
wal = open(path + "-wal", "rb").read()
magic, _, psz, _, salt1, salt2, _, _ = struct.unpack(">8I", wal[:32])
commits, cur, off = [], [], 32
# Frames: 24-byte header (page, database size in pages on a commit's
# last frame, the salts), then the page.  A frame whose salts differ is
# left from before the log was last started over.
while off + 24 + psz <= len(wal):
    page, size, s1, s2 = struct.unpack(">4I", wal[off:off + 16])
    if (s1, s2) != (salt1, salt2):
        break
    cur.append(page)
    if size:
        commits.append((cur, size))
        cur = []
    off += 24 + psz
names = {}
db = sqlite3.connect(path)
for name, pageno, kind in db.execute(
        "SELECT name, pageno, pagetype FROM dbstat"):
    names[pageno] = (name + (" (page 1)" if pageno == 1 else ""), kind)
sel = commits[-last:]
count = collections.Counter()
for pages, _ in sel:
    for page in set(pages):
        count[names.get(page, ("(free)", ""))] += 1
print("%d commits in the log, the last %d: %.1f pages a commit"
      % (len(commits), len(sel), sum(count.values()) / len(sel)))
for (name, kind), n in count.most_common():
    print("  %-36s %-9s %6.2f" % (name, kind, n / len(sel)))
if len(sel) > 1:
    print("database growth: %.2f pages a commit"
          % ((sel[-1][1] - sel[0][1]) / (len(sel) - 1)))
PY
