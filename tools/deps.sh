#!/bin/sh
# Installs the Debian 12 packages tlsrpt-collector needs, when any is
# missing.  Run as root.
#
#   sh tools/deps.sh          what building and running need (quick start)
#   sh tools/deps.sh --test   that, plus what the test suite needs: the
#                             compilers and checkers, and the servers the
#                             integration tests start on loopback
#
# It never stops, disables, restarts or reconfigures a service that is
# already on the machine: a package that is already installed is left
# alone, and only missing packages are installed.  A newly installed
# package that ships a service (Dovecot, nginx) must not start it either:
# the tests run their own instances on free loopback ports.  Debian's
# maintainer scripts ask /usr/sbin/policy-rc.d before starting anything,
# so when no such policy exists one that refuses every start is put there
# for the duration of the install only, and removed afterwards.  An
# administrator's own policy-rc.d is respected and never touched.
set -eu

# Building and running (libraries with their headers, the build tools).
RUNTIME="meson ninja-build pkg-config gcc git python3
libjansson-dev libsqlite3-dev sqlite3 zlib1g-dev nettle-dev libgnutls28-dev
libcurl4-gnutls-dev libetpan-dev libinih-dev libmicrohttpd-dev libsystemd-dev
libunbound-dev libidn2-dev dns-root-data libopendkim-dev libpsl-dev libpq-dev"

# The test suite: unit test framework, second compiler, formatter,
# sanitizer runtime, valgrind, systemd-analyze (unit verification), and the
# servers the integration tests start on loopback (PostgreSQL: a private
# cluster by tools/pgcluster.sh; the package's own cluster is never
# started here).
TEST="libcmocka-dev clang clang-format libclang-rt-14-dev valgrind systemd
openssl gnutls-bin dovecot-imapd nginx python3-aiosmtpd nsd ldnsutils python3-dkim
chromium chromium-driver python3-selenium postgresql python3-psycopg2"

POLICY_RC_D=${TRPT_POLICY_RC_D:-/usr/sbin/policy-rc.d}

PACKAGES=$RUNTIME
case "${1:-}" in
--test) PACKAGES="$RUNTIME $TEST" ;;
"") ;;
*)
	echo "usage: sh tools/deps.sh [--test]" >&2
	exit 2
	;;
esac

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -n "$missing" ] || exit 0

echo "installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "tools/deps.sh: run as root to install:$missing" >&2
	exit 1
fi

policy_added=0
cleanup() {
	if [ "$policy_added" -eq 1 ]; then
		rm -f "$POLICY_RC_D"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
if [ ! -e "$POLICY_RC_D" ]; then
	# 101: "action forbidden by policy" (invoke-rc.d, deb-systemd-invoke).
	printf '#!/bin/sh\n# tools/deps.sh: no service starts during its install\nexit 101\n' \
		>"$POLICY_RC_D"
	chmod 755 "$POLICY_RC_D"
	policy_added=1
else
	echo "tools/deps.sh: $POLICY_RC_D exists; its policy decides whether new services start"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null
