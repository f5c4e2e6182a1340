#!/bin/sh
# PostgreSQL against SQLite, and two receivers against one (issue 14;
# figures in docs/SCALING.md).  Not a test: it prints figures.
#
#   sh bench/bench_pg.sh [BUILD-DIR] [REPORTS] [REQUESTS] [CONNECTIONS]
#
# 1. ingest: REPORTS small .json.gz reports (bench/gen_corpus) into a fresh
#    SQLite file and into a fresh PostgreSQL database, alternating, two
#    rounds each; prints reports/s of the whole `ingest` process.
# 2. serve: REQUESTS distinct POSTs (bench/http_load.c, CONNECTIONS
#    keep-alive connections, half gzip) to one receiver, then to two
#    receivers on the same PostgreSQL database (the connections split
#    between them, both load clients at once), and to one receiver on
#    SQLite for reference; prints stored reports/s and latency, and checks
#    that the database holds exactly one row per 200.
#
# PostgreSQL runs on this machine (tools/pgcluster.sh: 127.0.0.1, a free
# port) with durable settings as a deployment has them (fsync on,
# full_page_writes on, synchronous_commit on): the comparison is with an
# SQLite database in WAL mode (synchronous=NORMAL) on the same disk.  Both
# the collector and the server share the machine's cores.
set -eu

build=${1:-build}
reports=${2:-20000}
requests=${3:-20000}
conns=${4:-16}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$(cd "$build" && pwd)/collector/tlsrpt-collector
gen=$(cd "$build" && pwd)/bench/gen_corpus
tmp=$(mktemp -d /tmp/trpt-benchpg.XXXXXX)
chmod 755 "$tmp"
pids=
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	sh "$root/tools/pgcluster.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

PGCLUSTER_OPTS="-c fsync=on -c full_page_writes=on -c synchronous_commit=on -c shared_buffers=256MB" \
	sh "$root/tools/pgcluster.sh" start "$tmp/pg" >"$tmp/admin"
admin=$(cat "$tmp/admin")
pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
createdb() {
	"$pgbin/psql" -X -q "$admin" -c "CREATE DATABASE $1"
	echo "$admin" | sed "s|/postgres\$|/$1|"
}
q() {
	"$pgbin/psql" -X -A -t "$1" -c "$2"
}

echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# $(uname -sr), files on $(df -T "$tmp" | awk 'NR==2{print $2}')"
echo "# $("$pgbin/postgres" --version), SQLite $(sqlite3 --version | cut -d' ' -f1)"

"$gen" --seed 11 --small "$reports" "$tmp/corpus" >/dev/null

# Seconds (with fractions) that a command takes.
timed() {
	t0=$(date +%s.%N)
	"$@"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

echo "== ingest of $reports small .json.gz (whole process, reports/s)"
for round in 1 2; do
	for be in sqlite pg; do
		if [ "$be" = sqlite ]; then
			db=$tmp/ingest$round.db
		else
			db=$(createdb "ingest$round")
		fi
		s=$(timed "$bin" -q --db "$db" ingest "$tmp/corpus")
		echo "$be round $round: $s s, $(echo "$reports $s" | awk '{printf "%.0f", $1 / $2}') reports/s"
	done
done

cc -O2 -pthread -o "$tmp/http_load" "$here/http_load.c" -lz -lgnutls
printf '[serve]\nrate_limit = 0\nmax_connections_per_client = 100000\n' \
	>"$tmp/conf"
chmod 600 "$tmp/conf"

# Starts a receiver on db; its port in $port (not in a subshell, so that
# $pids keeps its process).
serve() {
	"$bin" -q --db "$1" --config "$tmp/conf" serve \
		--listen 127.0.0.1:0 >"$tmp/out.$2" 2>"$tmp/err.$2" &
	pids="$pids $!"
	for _ in $(seq 50); do
		grep -q listening "$tmp/out.$2" 2>/dev/null && break
		sleep 0.2
	done
	port=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' \
		"$tmp/out.$2")
	[ -n "$port" ] || {
		cat "$tmp/err.$2" >&2
		exit 1
	}
}

stop_all() {
	for p in $pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	pids=
}

# Rows for run id prefix $2 in database $1 (SQLite path or URL).
rows() {
	case "$1" in
	postgresql://*) q "$1" "SELECT count(*) FROM reports WHERE report_id LIKE '$2-%'" ;;
	*) sqlite3 "$1" "SELECT count(*) FROM reports WHERE report_id LIKE '$2-%'" ;;
	esac
}

ok_of() { sed -n 's/.* ok200 \([0-9]*\) .*/\1/p' "$1"; }
rate_of() { sed -n 's/.* rate \([0-9]*\) req\/s.*/\1/p' "$1"; }

echo "== serve: $requests POSTs over $conns connections (stored reports/s)"
for round in 1 2; do
	# One receiver, SQLite (reference).
	db=$tmp/serve$round.db
	serve "$db" a
	p1=$port
	"$tmp/http_load" 127.0.0.1 "$p1" 4 200 "warm$round" 50 >/dev/null
	"$tmp/http_load" 127.0.0.1 "$p1" "$conns" "$requests" "s1r$round" 50 \
		>"$tmp/l1"
	stop_all
	echo "sqlite, 1 receiver, round $round: $(sed -n 2p "$tmp/l1")"
	echo "  200s $(ok_of "$tmp/l1"), rows $(rows "$db" "s1r$round")"

	# One receiver, PostgreSQL.
	db=$(createdb "serve1r$round")
	serve "$db" a
	p1=$port
	"$tmp/http_load" 127.0.0.1 "$p1" 4 200 "warm$round" 50 >/dev/null
	"$tmp/http_load" 127.0.0.1 "$p1" "$conns" "$requests" "p1r$round" 50 \
		>"$tmp/l1"
	stop_all
	echo "pg, 1 receiver, round $round: $(sed -n 2p "$tmp/l1")"
	echo "  200s $(ok_of "$tmp/l1"), rows $(rows "$db" "p1r$round")"

	# Two receivers, one PostgreSQL database; the load split between them
	# and sent at the same time.
	db=$(createdb "serve2r$round")
	serve "$db" a
	p1=$port
	serve "$db" b
	p2=$port
	"$tmp/http_load" 127.0.0.1 "$p1" 4 200 "warma$round" 50 >/dev/null
	"$tmp/http_load" 127.0.0.1 "$p2" 4 200 "warmb$round" 50 >/dev/null
	t0=$(date +%s.%N)
	"$tmp/http_load" 127.0.0.1 "$p1" $((conns / 2)) $((requests / 2)) \
		"p2ar$round" 50 >"$tmp/la" &
	la=$!
	"$tmp/http_load" 127.0.0.1 "$p2" $((conns / 2)) $((requests / 2)) \
		"p2br$round" 50 >"$tmp/lb" &
	lb=$!
	wait "$la" "$lb"
	t1=$(date +%s.%N)
	stop_all
	okab=$(($(ok_of "$tmp/la") + $(ok_of "$tmp/lb")))
	n=$(($(rows "$db" "p2ar$round") + $(rows "$db" "p2br$round")))
	echo "pg, 2 receivers, round $round: $(echo "$t0 $t1 $okab" | awk '{printf "%d stored in %.2f s, %.0f reports/s", $3, $2 - $1, $3 / ($2 - $1)}') (receiver a: $(rate_of "$tmp/la") req/s, b: $(rate_of "$tmp/lb") req/s)"
	echo "  a: $(sed -n 2p "$tmp/la")"
	echo "  b: $(sed -n 2p "$tmp/lb")"
	echo "  200s $okab, rows $n"
done
