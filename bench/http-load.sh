#!/bin/sh
# Load benchmark of `tlsrpt-collector serve` (see docs/BENCHMARKS.md).
#
#   bench/http-load.sh [BUILD-DIR] [REQUESTS] [CONNECTIONS...]
#   TLS=1 bench/http-load.sh ...     native TLS (a certificate made here)
#   SERVE_CONF='threads = 2' bench/http-load.sh ...   more [serve] keys
#
# Builds bench/http_load.c, starts serve on a free loopback port with a
# fresh database in a temporary directory, runs a warm-up and then one run
# per connection count, each posting REQUESTS distinct reports (half gzip,
# half JSON), and checks that the database holds exactly one row for every
# report answered 200.  Prints the client's and the server's CPU time per
# request, the server's split by thread (committer, libmicrohttpd's
# threads, checkpointer; the accepting thread, trpt-accept, counts as
# other) with its context switches per request, and the
# POSTs a commit (tlsrpt_http_commits_total), and how long the writer
# stood still for the log's restarts (tlsrpt_wal_restart_seconds_total;
# only when some happened).  Needs cc, zlib and GnuTLS headers, python3
# (and openssl for TLS=1).
set -eu

build=${1:-build}
requests=${2:-10000}
shift 2 2>/dev/null || shift $#
conns=${*:-1 4 8 32}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/serve-start.sh
. "$here/serve-start.sh"
bin=$(cd "$build" && pwd)/collector/tlsrpt-collector
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cc -O2 -pthread -o "$tmp/http_load" "$here/http_load.c" -lz -lgnutls
printf '[serve]\nrate_limit = 0\nmax_connections_per_client = 100000\n' \
    > "$tmp/conf"
# SERVE_CONF: more [serve] lines, e.g. SERVE_CONF='threads = 2'.
[ -n "${SERVE_CONF:-}" ] && printf '%s\n' "$SERVE_CONF" >> "$tmp/conf"
ca=
if [ "${TLS:-0}" = 1 ]; then
	mkdir "$tmp/certs"
	python3 "$here/../tests/helpers/mkcerts.py" "$tmp/certs"
	printf 'tls_cert = %s\ntls_key = %s\n' "$tmp/certs/server.pem" \
	    "$tmp/certs/server.key" >> "$tmp/conf"
	ca=$tmp/certs/ca.pem
fi
chmod 600 "$tmp/conf"
serve_start "${SERVE_ERR:-}"

echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# $(uname -sr), database on $(df -T "$tmp" | awk 'NR==2{print $2}')"
echo "# $(head -1 "$tmp/out")"
"$tmp/http_load" 127.0.0.1 "$port" 4 400 warmup 50 $ca > /dev/null
# CPU time of the server process (all its threads, ended ones included),
# in clock ticks.
server_ticks() {
	awk '{print $14 + $15}' "/proc/$pid/stat"
}
# Per live thread of the server: name, CPU ticks and context switches
# (voluntary and not), one line each: the committer, the checkpointer and
# libmicrohttpd's threads are told apart by name.
thread_stats() {
	for t in /proc/"$pid"/task/*; do
		printf '%s %s %s %s\n' "$(cat "$t/comm")" \
		    "$(awk '{print $14 + $15}' "$t/stat")" \
		    "$(awk '/ctxt_switches/ {n += $2} END {print n}' "$t/status")" \
		    "$(awk '/^wchar/ {print $2}' "$t/io")"
	done
}
hz=$(getconf CLK_TCK)
# A counter of /metrics (0 when absent): tlsrpt_http_commits_total (POSTs
# a commit), tlsrpt_wal_restart*_total (the time the writer stood still
# for the log's restarts).
metric() {
	python3 - "$port" "$ca" "$1" <<'PY'
import re, ssl, sys, urllib.request
port, ca, name = sys.argv[1], sys.argv[2], sys.argv[3]
if ca:
    url = "https://127.0.0.1:%s/metrics" % port
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
else:
    url, ctx = "http://127.0.0.1:%s/metrics" % port, None
text = urllib.request.urlopen(url, context=ctx, timeout=30).read().decode()
m = re.search(r"^%s ([0-9.]+)$" % re.escape(name), text, re.M)
print(m.group(1) if m else 0)
PY
}
commits() {
	metric tlsrpt_http_commits_total
}
total_ok=0
for c in $conns; do
	k0=$(commits)
	w0="$(metric tlsrpt_wal_restarts_total) $(metric tlsrpt_wal_restart_seconds_total)"
	thread_stats > "$tmp/threads0"
	t0=$(server_ticks)
	perf_pid=
	if [ -n "${PERF_OUT:-}" ]; then
		perf record ${PERF_ARGS:--g} -p "$pid" -o "$PERF_OUT-c$c" \
		    2> /dev/null &
		perf_pid=$!
		sleep 0.5
	fi
	out=$("$tmp/http_load" 127.0.0.1 "$port" "$c" "$requests" "run-c$c" \
	    50 $ca)
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || :
	fi
	t1=$(server_ticks)
	thread_stats > "$tmp/threads1"
	k1=$(commits)
	w1="$(metric tlsrpt_wal_restarts_total) $(metric tlsrpt_wal_restart_seconds_total)"
	echo "$out"
	n=$(echo "$out" | sed -n 's/.* answered \([0-9]*\) .*/\1/p')
	per=
	[ "$k1" -gt "$k0" ] &&
	    per=", $(((n * 10 / (k1 - k0) + 5) / 10)) POSTs a commit"
	[ "${n:-0}" -gt 0 ] &&
	    echo "server cpu $(((t1 - t0) * 1000000 / hz / n)) us/req$per" \
		"(load $(cut -d' ' -f1 /proc/loadavg))" &&
	    paste -d' ' "$tmp/threads0" "$tmp/threads1" |
	    awk -v n="$n" -v hz="$hz" '
		{ k = "other"
		  if ($1 ~ /^MHD/) k = "http"
		  if ($1 ~ /committer/) k = "committer"
		  if ($1 ~ /checkpoint/) k = "checkpointer"
		  cpu[k] += $6 - $2; cs += $7 - $3; wr[k] += $8 - $4
		  if (k == "http") shares = shares " " ($6 - $2) * 1e6 / hz / n }
		END { printf "  threads: committer %d, http %d, checkpointer" \
		      " %d, other %d us/req; %.2f context switches/req\n",
		      cpu["committer"] * 1e6 / hz / n, cpu["http"] * 1e6 / hz / n,
		      cpu["checkpointer"] * 1e6 / hz / n,
		      cpu["other"] * 1e6 / hz / n, cs / n
		      printf "  written: committer %.1f, checkpointer %.1f" \
		      " kB/req\n", wr["committer"] / 1024 / n,
		      wr["checkpointer"] / 1024 / n
		  # How the connections fell over libmicrohttpd'"'"'s threads
		  # (each takes those it accepts first): uneven shares leave
		  # a core idle.
		  printf "  http threads:"; m = split(shares, a)
		  for (i = 1; i <= m; i++) printf " %d", a[i]
		  printf " us/req\n" }'
	echo "$w0 $w1" | awk '$3 > $1 {
		printf "  log restarts %d, the writer stood still %.0f ms" \
		    " for them\n", $3 - $1, ($4 - $2) * 1000 }'
	ok=$(echo "$out" | sed -n 's/.* ok200 \([0-9]*\) .*/\1/p')
	total_ok=$((total_ok + ok))
done
echo "# database $(du -k "$tmp/db" | cut -f1) kB, log $(du -k "$tmp/db-wal" | cut -f1) kB"
python3 - "$tmp/db" "$total_ok" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
n, d = con.execute("SELECT count(*), count(DISTINCT report_id) FROM reports"
                   " WHERE report_id LIKE 'run-c%'").fetchone()
want = int(sys.argv[2])
print("count check: %d answered 200, %d rows, %d distinct: %s" %
      (want, n, d, "OK" if n == d == want else "MISMATCH"))
sys.exit(0 if n == d == want else 1)
PY
