#!/bin/sh
# Installs the Debian 12 packages tlsrpt-collector needs to build and to run
# its whole test suite (servers included), when any is missing.  Run as root.
set -eu

PACKAGES="meson ninja-build pkg-config gcc clang clang-format git python3
libjansson-dev libsqlite3-dev sqlite3 zlib1g-dev nettle-dev libgnutls28-dev
libcurl4-gnutls-dev libetpan-dev libinih-dev libmicrohttpd-dev libcmocka-dev
dovecot-imapd nginx python3-aiosmtpd openssl gnutls-bin valgrind libclang-rt-14-dev
libunbound-dev libidn2-dev dns-root-data nsd ldnsutils
libopendkim-dev libpsl-dev python3-dkim
chromium chromium-driver python3-selenium"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "tools/deps.sh: run as root to install:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# Dovecot and nginx start system instances; the tests run their own.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now dovecot nginx >/dev/null 2>&1 || true
	fi
fi
