#!/bin/sh
# A private PostgreSQL cluster on 127.0.0.1 and a free port, for the tests
# and benchmarks that need a real server (issue 14).  Shared by the
# driver's own tests (schema/sql_pg.c), the suite run against PostgreSQL,
# the concurrency and restart tests and the benchmarks.
#
#   sh tools/pgcluster.sh start DIR [--tls]   create (if new) and start;
#                                             prints the conninfo
#   sh tools/pgcluster.sh stop DIR            stop (fast shutdown; DIR kept)
#   sh tools/pgcluster.sh restart DIR         stop, then start on the same port
#   sh tools/pgcluster.sh conninfo DIR        prints the conninfo again:
#                                             postgresql://trpt@127.0.0.1:PORT/postgres
#                                             (superuser trpt, trust)
#   sh tools/pgcluster.sh run [--tls] -- CMD [ARG...]
#                                             a cluster in a temporary
#                                             directory for the length of
#                                             CMD, its variables exported;
#                                             exits with CMD's status
#
# After start, DIR/env holds shell assignments (`. DIR/env`), also exported
# by `run`:
#   TRPT_PG_URI    postgresql://trpt@127.0.0.1:PORT/trpt (trust, no password)
#   TRPT_PG_HOST, TRPT_PG_PORT, TRPT_PG_USER, TRPT_PG_DB
#   TRPT_PG_BIN    the server's bin directory (psql, createdb, pg_ctl)
#   TRPT_PG_DIR    DIR
#   TRPT_PG_PWUSER a role that must log in with a password (scram-sha-256)
#   TRPT_PG_PASSFILE  a libpq password file (mode 600) with its password
#   TRPT_PG_CA     (--tls) the CA that signed the server certificate, which
#                  names 127.0.0.1 and localhost: sslmode=verify-full works
# More databases: "$TRPT_PG_BIN/createdb" -h 127.0.0.1 -p PORT -U trpt NAME.
#
# initdb refuses to run as root: as root the server runs as the user
# postgres (the Debian package creates it; else nobody; TRPT_PG_OSUSER
# chooses), with DIR/data owned by it; otherwise as the calling user.
# Where PostgreSQL is not installed, start exits 3 with "PostgreSQL absent"
# on standard error, and run exits 77 (the skip status of meson and
# automake) after printing "1..0 # SKIP reason" (TAP).  Exit codes: 0 done,
# 1 failure (with the log's last lines), 2 usage, 3 PostgreSQL absent.  The
# server runs with fsync off: the tests want speed, not durability against
# a power cut (a restart keeps everything committed).  PGCLUSTER_OPTS adds
# server options ("-c name=value ..."); PG_BINDIR (or TRPT_PG_BIN) chooses
# the binaries, else the newest /usr/lib/postgresql/*/bin, else PATH.
set -eu

usage() {
	echo "usage: sh tools/pgcluster.sh start DIR [--tls] | stop DIR | restart DIR | conninfo DIR" >&2
	echo "       sh tools/pgcluster.sh run [--tls] -- CMD [ARG...]" >&2
	exit 2
}

find_bin() {
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then
		echo "$PG_BINDIR"
		return 0
	fi
	if [ -n "${TRPT_PG_BIN:-}" ] && [ -x "$TRPT_PG_BIN/initdb" ]; then
		echo "$TRPT_PG_BIN"
		return 0
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && bin=$d
	done
	if [ -n "${bin:-}" ]; then
		echo "$bin"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

absent_msg="PostgreSQL absent (no initdb under /usr/lib/postgresql/*/bin or on PATH; Debian package postgresql)"
absent() {
	if [ "$in_run" = 1 ]; then
		echo "1..0 # SKIP $absent_msg"
		exit 77
	fi
	echo "pgcluster: $absent_msg" >&2
	exit 3
}

log_tail() {
	if [ -f "$1/data/server.log" ]; then
		tail -n 15 "$1/data/server.log" | sed 's/^/pgcluster: log: /' >&2
	fi
}

# Runs a command as the server's user.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$osuser" -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

make_certs() {
	c=$1/tls
	mkdir -p "$c"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=trpt test CA" \
		-keyout "$c/ca.key" -out "$c/ca.pem" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$c/server.key" -out "$c/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' \
		>"$c/ext.cnf"
	openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" \
		-CAcreateserial -days 2 -extfile "$c/ext.cnf" -out "$c/server.pem" 2>/dev/null
	cp "$c/server.pem" "$c/server.key" "$1/data/"
	chmod 600 "$1/data/server.key"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$osuser" "$1/data/server.pem" "$1/data/server.key"
	fi
	chmod 644 "$c/ca.pem"
}

write_env() {
	dir=$1
	port=$2
	{
		echo "TRPT_PG_HOST=127.0.0.1"
		echo "TRPT_PG_PORT=$port"
		echo "TRPT_PG_USER=trpt"
		echo "TRPT_PG_DB=trpt"
		echo "TRPT_PG_URI=postgresql://trpt@127.0.0.1:$port/trpt"
		echo "TRPT_PG_BIN=$bin"
		echo "TRPT_PG_DIR=$dir"
		echo "TRPT_PG_PWUSER=trpt_pw"
		echo "TRPT_PG_PASSFILE=$dir/passfile"
		if [ -f "$dir/tls/ca.pem" ]; then
			echo "TRPT_PG_CA=$dir/tls/ca.pem"
		fi
		echo "export TRPT_PG_HOST TRPT_PG_PORT TRPT_PG_USER TRPT_PG_DB TRPT_PG_URI"
		echo "export TRPT_PG_BIN TRPT_PG_DIR TRPT_PG_PWUSER TRPT_PG_PASSFILE"
		if [ -f "$dir/tls/ca.pem" ]; then
			echo "export TRPT_PG_CA"
		fi
	} >"$dir/env"
}

server_start() {
	dir=$1
	port=$2
	# shellcheck disable=SC2086
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
		-o "-p $port -k $dir/data -c listen_addresses=127.0.0.1 ${PGCLUSTER_OPTS:-}" \
		start >/dev/null
}

cmd_start() {
	dir=$1
	tls=$2
	bin=$(find_bin) || absent
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/data/PG_VERSION" ]; then
		port=$(cat "$dir/port")
		server_start "$dir" "$port"
		write_env "$dir" "$port"
		return 0
	fi
	# The server's user must reach DIR and own DIR/data (mode 700).
	chmod 755 "$dir"
	if [ "$(id -u)" -eq 0 ] && ! runuser -u "$osuser" -- test -x "$dir"; then
		echo "pgcluster: $dir: not reachable for user $osuser (a parent" \
			"directory is closed to it)" >&2
		exit 1
	fi
	mkdir -m 700 "$dir/data"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$osuser" "$dir/data"
	fi
	as_pg "$bin/initdb" -D "$dir/data" -A trust -U trpt -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		exit 1
	}
	# The password role logs in with scram-sha-256 from 127.0.0.1, before
	# the trust lines initdb wrote; TLS connections match "host" too.
	hba=$dir/data/pg_hba.conf
	{
		echo "host all trpt_pw 127.0.0.1/32 scram-sha-256"
		echo "host all trpt_pw ::1/128 scram-sha-256"
		cat "$hba"
	} >"$hba.new"
	cat "$hba.new" >"$hba"
	rm -f "$hba.new"
	{
		echo "fsync = off"
		echo "full_page_writes = off"
		echo "shared_buffers = 32MB"
		echo "max_connections = 100"
		echo "unix_socket_permissions = 0777"
		if [ "$tls" = 1 ]; then
			echo "ssl = on"
			echo "ssl_cert_file = 'server.pem'"
			echo "ssl_key_file = 'server.key'"
		fi
	} >>"$dir/data/postgresql.conf"
	if [ "$tls" = 1 ]; then
		make_certs "$dir"
	fi
	tries=0
	while :; do
		port=$(free_port)
		if server_start "$dir" "$port"; then
			break
		fi
		tries=$((tries + 1))
		if [ "$tries" -ge 5 ]; then
			echo "pgcluster: $dir: the server did not start" >&2
			log_tail "$dir"
			exit 1
		fi
	done
	echo "$port" >"$dir/port"
	pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	"$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U trpt -d postgres \
		-v ON_ERROR_STOP=1 -c "CREATE DATABASE trpt" \
		-c "CREATE ROLE trpt_pw LOGIN PASSWORD '$pw'" \
		-c "GRANT ALL ON DATABASE trpt TO trpt_pw" \
		-c "GRANT trpt TO trpt_pw" >/dev/null
	"$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U trpt -d trpt \
		-v ON_ERROR_STOP=1 -c "GRANT ALL ON SCHEMA public TO trpt_pw" >/dev/null
	(
		umask 077
		printf '127.0.0.1:%s:*:trpt_pw:%s\nlocalhost:%s:*:trpt_pw:%s\n' \
			"$port" "$pw" "$port" "$pw" >"$dir/passfile"
	)
	write_env "$dir" "$port"
}

cmd_stop() {
	dir=$1
	bin=$(find_bin) || exit 0
	[ -f "$dir/data/postmaster.pid" ] || return 0
	if ! as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null; then
		echo "pgcluster: $dir: stop failed" >&2
		log_tail "$dir"
		exit 1
	fi
}

conninfo() {
	echo "postgresql://trpt@127.0.0.1:$(cat "$1/port")/postgres"
}

if [ -n "${TRPT_PG_OSUSER:-}" ]; then
	osuser=$TRPT_PG_OSUSER
elif id postgres >/dev/null 2>&1; then
	osuser=postgres
else
	osuser=nobody
fi
in_run=0
[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
start)
	[ $# -ge 1 ] || usage
	dir=$1
	tls=0
	[ "${2:-}" = "--tls" ] && tls=1
	cmd_start "$dir" "$tls"
	conninfo "$dir"
	;;
conninfo)
	[ $# -eq 1 ] || usage
	conninfo "$1"
	;;
stop)
	[ $# -eq 1 ] || usage
	cmd_stop "$1"
	;;
restart)
	[ $# -eq 1 ] || usage
	cmd_stop "$1"
	cmd_start "$1" 0
	conninfo "$1"
	;;
run)
	in_run=1
	tls=0
	if [ "${1:-}" = "--tls" ]; then
		tls=1
		shift
	fi
	[ "${1:-}" = "--" ] || usage
	shift
	[ $# -ge 1 ] || usage
	find_bin >/dev/null || absent
	base=$(mktemp -d "${TMPDIR:-/tmp}/trpt-pg.XXXXXX")
	cleanup() {
		cmd_stop "$base/c" || true
		rm -rf "$base"
	}
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	chmod 755 "$base"
	cmd_start "$base/c" "$tls"
	# shellcheck disable=SC1091
	. "$base/c/env"
	set +e
	"$@"
	status=$?
	set -e
	exit "$status"
	;;
*) usage ;;
esac
