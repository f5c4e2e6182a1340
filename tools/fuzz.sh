#!/bin/sh
# Builds the libFuzzer targets of fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and runs each for a
# bounded time, seeded from tests/fixtures, examples/ and, when present,
# the shared corpus ($TRPT_CORPUS, else ../shared/corpus).
#
#   sh tools/fuzz.sh [SECONDS] [TARGET...]   # default 25 s, all targets
#
# The corpus each target grows is kept in build-fuzz/corpus/TARGET and used
# again by the next run.  A crash stops the script with a non-zero status;
# the input is in build-fuzz/artifacts/.  Fix it, then keep the input as a
# regression fixture in tests/fixtures/fuzz/TARGET/ (meson test replays
# those: suite "fuzz").  docs/PERFORMANCE.md says how to fuzz for longer.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-25}
[ $# -gt 0 ] && shift
targets=${*:-"validate inflate mime pipeline config policy"}
corpus=${TRPT_CORPUS:-../shared/corpus}

if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzzing=true -Dtests=disabled \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
for t in $targets; do
	ninja -C build-fuzz "fuzz/fuzz_$t" >/dev/null
done

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

mkdir -p build-fuzz/artifacts
status=0
for t in $targets; do
	seeds="tests/fixtures/fuzz/$t"
	case $t in
	validate)
		seeds="$seeds tests/fixtures/bad tests/fixtures/lenient"
		seeds="$seeds examples/reports"
		[ -d "$corpus" ] && seeds="$seeds $corpus/real $corpus/quirky"
		;;
	inflate)
		seeds="$seeds examples/reports"
		[ -d "$corpus" ] && seeds="$seeds $corpus/real"
		;;
	mime)
		seeds="$seeds examples/mail"
		[ -d "$corpus" ] && seeds="$seeds $corpus/real $corpus/quirky"
		;;
	pipeline)
		seeds="$seeds tests/fixtures/bad examples/reports examples/mail"
		[ -d "$corpus" ] && seeds="$seeds $corpus/real $corpus/quirky"
		;;
	config)
		mkdir -p build-fuzz/seeds-config
		cp examples/tlsrpt-collector.conf build-fuzz/seeds-config/
		seeds="$seeds build-fuzz/seeds-config"
		;;
	esac
	mkdir -p "build-fuzz/corpus/$t"
	echo "== fuzz $t for ${secs}s"
	# shellcheck disable=SC2086
	if ! "build-fuzz/fuzz/fuzz_$t" -max_total_time="$secs" \
		-max_len=262144 -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 \
		-artifact_prefix="build-fuzz/artifacts/$t-" \
		"build-fuzz/corpus/$t" $seeds >"build-fuzz/fuzz-$t.log" 2>&1; then
		echo "fuzz $t: FAILED (see build-fuzz/fuzz-$t.log and" \
			"build-fuzz/artifacts/)"
		tail -40 "build-fuzz/fuzz-$t.log"
		status=1
	else
		grep -E "^stat::number_of_executed_units|^stat::peak_rss" \
			"build-fuzz/fuzz-$t.log" | tr '\n' ' '
		echo
	fi
done
exit $status
