# shellcheck shell=sh disable=SC2034,SC2154
# Sourced by bench/http-load.sh and bench/wal-pages.sh (bin, tmp: theirs).
#
# serve_start [ERR]: starts "$bin" serve on a free loopback port with the
# database "$tmp/db" and the configuration "$tmp/conf", its standard
# output in "$tmp/out" and its errors in ERR (default "$tmp/err"); sets
# pid and port, or prints serve's errors and exits 1 when it does not say
# it listens within 2 s.
serve_start() {
	err=${1:-$tmp/err}
	"$bin" -q --db "$tmp/db" --config "$tmp/conf" serve \
	    --listen 127.0.0.1:0 > "$tmp/out" 2> "$err" &
	pid=$!
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -q listening "$tmp/out" 2>/dev/null && break
		sleep 0.2
	done
	port=$(sed -n \
	    's/^listening on https*:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	    "$tmp/out")
	[ -n "$port" ] || { cat "$err"; exit 1; }
}
