#!/bin/sh
# A private PostgreSQL server for the test suite and the benchmarks.
#
#   sh tools/pgcluster.sh start DIR     initdb + start; prints the conninfo
#   sh tools/pgcluster.sh restart DIR   pg_ctl restart -m fast
#   sh tools/pgcluster.sh stop DIR      pg_ctl stop -m fast (DIR is kept)
#   sh tools/pgcluster.sh conninfo DIR  prints the conninfo again
#
# The server belongs to DIR alone: its data in DIR/data, its log in
# DIR/server.log, its Unix socket in DIR, TCP on 127.0.0.1 only, on a free
# port, and trust authentication for the user "trpt" (superuser: the tests
# create and drop a database each).  It never touches a PostgreSQL that
# already runs on the machine (no pg_ctlcluster, no service, no system
# data directory, no fixed port).
#
# initdb refuses to run as root: as root, the server runs as the user
# "postgres" (Debian's package creates it) or else "nobody", and DIR is
# given to that user.
#
# The binaries are taken from $PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin (Debian), else $PATH.  When there are none,
# start exits 3 with "PostgreSQL absent" on standard error.  Options for
# the server may be added with $PGCLUSTER_OPTS (e.g. "-c fsync=off").
# Exit codes: 0 done, 1 failure (with the log's last lines), 2 usage,
# 3 PostgreSQL absent.
set -eu

usage() {
	echo "usage: sh tools/pgcluster.sh start|restart|stop|conninfo DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$cmd" in
start | restart | stop | conninfo) ;;
*) usage ;;
esac
case "$dir" in
/*) ;;
*) dir="$(pwd)/$dir" ;;
esac

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n); do
		[ -x "$d/initdb" ] && bindir=$d
	done
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
	bindir=$(dirname "$(command -v initdb)")
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
	echo "pgcluster: PostgreSQL absent (no initdb/pg_ctl; install postgresql)" >&2
	exit 3
fi

# Runs a command as the owner of the cluster.
owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	if id postgres >/dev/null 2>&1; then
		owner=postgres
	else
		owner=nobody
	fi
fi
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$owner" -- "$@"
	else
		"$@"
	fi
}

log_tail() {
	if [ -f "$dir/server.log" ]; then
		tail -n 15 "$dir/server.log" | sed 's/^/pgcluster: log: /' >&2
	fi
}

conninfo() {
	port=$(cat "$dir/port")
	echo "postgresql://trpt@127.0.0.1:$port/postgres"
}

# A free TCP port on 127.0.0.1 (the kernel's choice); the server may
# still lose it to a race, so start tries a few.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

case "$cmd" in
start)
	if [ -f "$dir/data/postmaster.pid" ]; then
		echo "pgcluster: $dir: a server is already running there" >&2
		exit 1
	fi
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$owner" "$dir"
		if ! runuser -u "$owner" -- test -w "$dir"; then
			echo "pgcluster: $dir: not reachable for user $owner" \
			    "(a parent directory is closed to it)" >&2
			exit 1
		fi
	fi
	chmod 700 "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		if ! as_owner "$bindir/initdb" -D "$dir/data" -A trust -U trpt \
		    -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
			sed 's/^/pgcluster: initdb: /' "$dir/initdb.log" >&2
			exit 1
		fi
	fi
	tries=0
	while :; do
		port=$(free_port)
		# shellcheck disable=SC2086
		if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		    -w -t 60 -o "-p $port -k $dir -c listen_addresses=127.0.0.1 ${PGCLUSTER_OPTS:-}" \
		    start >/dev/null; then
			break
		fi
		tries=$((tries + 1))
		if [ "$tries" -ge 3 ]; then
			echo "pgcluster: $dir: the server did not start" >&2
			log_tail
			exit 1
		fi
	done
	echo "$port" >"$dir/port"
	conninfo
	;;
restart)
	if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -w -t 60 -m fast \
	    restart >/dev/null; then
		echo "pgcluster: $dir: restart failed" >&2
		log_tail
		exit 1
	fi
	;;
stop)
	if [ ! -f "$dir/data/postmaster.pid" ]; then
		echo "pgcluster: $dir: no server running" >&2
		exit 0
	fi
	if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -w -t 60 -m fast \
	    stop >/dev/null; then
		echo "pgcluster: $dir: stop failed" >&2
		log_tail
		exit 1
	fi
	;;
conninfo)
	conninfo
	;;
esac
