#!/bin/sh
# PostgreSQL against SQLite, and two receivers against one (issue 14;
# figures in docs/SCALING.md).  Not a test: it prints figures.
#
#   sh bench/bench_pg.sh [BUILD-DIR] [REPORTS] [REQUESTS] [CONNECTIONS]
#   (ROUNDS=N in the environment: rounds of each part, default 3)
#
# 1. ingest: REPORTS small .json.gz reports (bench/gen_corpus) into a fresh
#    SQLite file and into a fresh PostgreSQL database, alternating (the
#    order flips every round); prints reports/s and the collector's CPU
#    seconds of the whole `ingest` process (into a database whose schema
#    an ingest of nothing has just made: that time is printed apart), and
#    PostgreSQL/SQLite per round.
# 2. serve: REQUESTS distinct POSTs (bench/http_load.c, CONNECTIONS
#    keep-alive connections, half gzip) to one receiver on SQLite for
#    reference, to one receiver on PostgreSQL and to two receivers on one
#    PostgreSQL database (the connections split between them, both load
#    clients at once; one and two alternate, the order flips every round);
#    prints stored reports/s and latency, two/one per round, and checks
#    that the database holds exactly one row per 200.
# Each figure line ends with the 1-minute load average when it was taken:
# on a shared machine only the ratios of neighbouring runs mean much.  The
# last lines give the median of each ratio over the rounds.
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
rounds=${ROUNDS:-3}
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
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# The 1-minute load average, for the end of a figure line.
load() { echo "(load $(cut -d' ' -f1 /proc/loadavg))"; }
# Median of the numbers on standard input.
median() {
	sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ratios=$tmp/ratios
: >"$ratios"

"$gen" --seed 11 --small "$reports" "$tmp/corpus" >/dev/null
mkdir "$tmp/empty"

# Runs a command; "WALL USER SYS" seconds in $tmp/time.
timed() {
	/usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@"
}

# ingest into $1 (sqlite or pg) for round $2; reports/s in $rate.
ingest_one() {
	if [ "$1" = sqlite ]; then
		db=$tmp/ingest$2.db
	else
		db=$(createdb "ingest$2")
	fi
	# The schema first (not timed: a fresh database's migrations are
	# printed apart, as "schema").
	timed "$bin" -q --db "$db" ingest "$tmp/empty"
	read -r wall user sys <"$tmp/time"
	echo "$1 round $2: schema of a fresh database $wall s wall"
	timed "$bin" -q --db "$db" ingest "$tmp/corpus"
	read -r wall user sys <"$tmp/time"
	rate=$(echo "$reports $wall" | awk '{printf "%.0f", $1 / $2}')
	echo "$1 round $2: $wall s wall, $rate reports/s, collector CPU $user s user + $sys s sys $(load)"
}

echo "== ingest of $reports small .json.gz (whole process, reports/s)"
round=1
while [ "$round" -le "$rounds" ]; do
	if [ $((round % 2)) -eq 1 ]; then
		ingest_one sqlite "$round"
		lite=$rate
		ingest_one pg "$round"
		pg=$rate
	else
		ingest_one pg "$round"
		pg=$rate
		ingest_one sqlite "$round"
		lite=$rate
	fi
	r=$(echo "$pg $lite" | awk '{printf "%.3f", $1 / $2}')
	echo "  round $round: PostgreSQL/SQLite $r"
	echo "ingest $r" >>"$ratios"
	round=$((round + 1))
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

# One receiver on SQLite ($1 = sqlite) or PostgreSQL, round $2; stored
# reports/s in $rate.
serve_one() {
	if [ "$1" = sqlite ]; then
		db=$tmp/serve$2.db
	else
		db=$(createdb "serve1r$2")
	fi
	serve "$db" a
	p1=$port
	"$tmp/http_load" 127.0.0.1 "$p1" 4 200 "warm$2" 50 >/dev/null
	"$tmp/http_load" 127.0.0.1 "$p1" "$conns" "$requests" "$1r$2" 50 \
		>"$tmp/l1"
	stop_all
	rate=$(rate_of "$tmp/l1")
	echo "$1, 1 receiver, round $2: $(sed -n 2p "$tmp/l1") $(load)"
	echo "  200s $(ok_of "$tmp/l1"), rows $(rows "$db" "$1r$2")"
}

# Two receivers on one PostgreSQL database, round $1; the load split
# between them and sent at the same time; stored reports/s in $rate.
serve_two() {
	db=$(createdb "serve2r$1")
	serve "$db" a
	p1=$port
	serve "$db" b
	p2=$port
	"$tmp/http_load" 127.0.0.1 "$p1" 4 200 "warma$1" 50 >/dev/null
	"$tmp/http_load" 127.0.0.1 "$p2" 4 200 "warmb$1" 50 >/dev/null
	t0=$(date +%s.%N)
	"$tmp/http_load" 127.0.0.1 "$p1" $((conns / 2)) $((requests / 2)) \
		"p2ar$1" 50 >"$tmp/la" &
	la=$!
	"$tmp/http_load" 127.0.0.1 "$p2" $((conns / 2)) $((requests / 2)) \
		"p2br$1" 50 >"$tmp/lb" &
	lb=$!
	wait "$la" "$lb"
	t1=$(date +%s.%N)
	stop_all
	okab=$(($(ok_of "$tmp/la") + $(ok_of "$tmp/lb")))
	n=$(($(rows "$db" "p2ar$1") + $(rows "$db" "p2br$1")))
	rate=$(echo "$t0 $t1 $okab" | awk '{printf "%.0f", $3 / ($2 - $1)}')
	echo "pg, 2 receivers, round $1: $(echo "$t0 $t1 $okab" | awk '{printf "%d stored in %.2f s", $3, $2 - $1}'), $rate reports/s $(load)"
	echo "  a: $(sed -n 2p "$tmp/la")"
	echo "  b: $(sed -n 2p "$tmp/lb")"
	echo "  200s $okab, rows $n"
}

echo "== serve: $requests POSTs over $conns connections (stored reports/s)"
round=1
while [ "$round" -le "$rounds" ]; do
	serve_one sqlite "$round"
	lite=$rate
	if [ $((round % 2)) -eq 1 ]; then
		serve_one pg "$round"
		one=$rate
		serve_two "$round"
		two=$rate
	else
		serve_two "$round"
		two=$rate
		serve_one pg "$round"
		one=$rate
	fi
	r1=$(echo "$one $lite" | awk '{printf "%.3f", $1 / $2}')
	r2=$(echo "$two $one" | awk '{printf "%.3f", $1 / $2}')
	echo "  round $round: 1 receiver PostgreSQL/SQLite $r1, PostgreSQL 2 receivers/1 $r2"
	echo "serve-pg-sqlite $r1" >>"$ratios"
	echo "serve-2-1 $r2" >>"$ratios"
	round=$((round + 1))
done

echo "== medians over $rounds rounds $(load)"
for k in ingest serve-pg-sqlite serve-2-1; do
	echo "$k: $(awk -v k="$k" '$1 == k {print $2}' "$ratios" | median)"
done
