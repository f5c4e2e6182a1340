#!/bin/sh
# The whole test suite: a normal build, then the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (leak checking on), each
# with gcc; a clang build; and a short run of each libFuzzer target
# (clang, ASan+UBSan; TRPT_FUZZ_SECONDS each, default 20; 0 skips it).
# The normal build's suite also runs against PostgreSQL (meson test
# --setup pg) on a private server that tools/pgcluster.sh starts on
# 127.0.0.1 and stops at the end; without PostgreSQL's binaries that part
# is skipped with a clear line.
# Exits non-zero if anything fails.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh --test

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

echo "== format (clang-format --dry-run -Werror)"
# shellcheck disable=SC2046
clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' 2>/dev/null ||
	find common schema ingest report collector tests bench fuzz \
		-name '*.[ch]' 2>/dev/null)

echo "== build (gcc) and test"
[ -d build ] || meson setup build -Dwerror=true >/dev/null
ninja -C build
meson test -C build --print-errorlogs

# The same suite against PostgreSQL (the tests get their database from
# tests/helpers/testdb.{c,py}).  On by default; TRPT_PG_SUITE=0 leaves it
# out.  Where PostgreSQL's binaries are absent it is skipped with a line
# saying so (CI installs them: tools/deps.sh).
pg_suite=${TRPT_PG_SUITE:-1}
rm -f build/meson-logs/testlog-pg.txt
if [ "$pg_suite" = 1 ]; then
	echo "== the normal build's tests against PostgreSQL (meson test --setup pg)"
	pgdir=$(mktemp -d /tmp/trpt-pgsuite.XXXXXX)
	pgrc=0
	pgurl=$(sh tools/pgcluster.sh start "$pgdir") || pgrc=$?
	if [ "$pgrc" -eq 3 ]; then
		echo "PostgreSQL absent: the run against PostgreSQL is skipped (no initdb found; install postgresql to run it)"
		rm -rf "$pgdir"
	elif [ "$pgrc" -ne 0 ]; then
		echo "tools/pgcluster.sh could not start a server in $pgdir"
		exit 1
	else
		trap 'sh tools/pgcluster.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
		TRPT_TEST_PG=$pgurl meson test -C build --setup pg --print-errorlogs
		sh tools/pgcluster.sh stop "$pgdir"
		trap - EXIT
		rm -rf "$pgdir"
	fi
else
	echo "== the run against PostgreSQL is left out (TRPT_PG_SUITE=$pg_suite)"
fi

echo "== build with ASan+UBSan (gcc) and test"
[ -d build-asan ] || meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false >/dev/null
ninja -C build-asan
meson test -C build-asan --print-errorlogs

echo "== build with clang and test"
[ -d build-clang ] || CC=clang meson setup build-clang -Dwerror=true >/dev/null
ninja -C build-clang
meson test -C build-clang --print-errorlogs

echo "== release build (gcc -O3, as a packager builds it, warnings as errors)"
[ -d build-release ] || meson setup build-release -Dbuildtype=release \
	-Dwerror=true >/dev/null
ninja -C build-release

fuzz_secs=${TRPT_FUZZ_SECONDS:-20}
if [ "$fuzz_secs" -gt 0 ]; then
	echo "== fuzz smoke (clang, libFuzzer + ASan + UBSan, ${fuzz_secs}s each)"
	sh tools/fuzz.sh "$fuzz_secs"
fi

# One closing line over the meson runs (three builds, and the normal one
# against PostgreSQL), counted from their logs: what CI reads.
passed=0
failed=0
for log in build/meson-logs/testlog.txt build/meson-logs/testlog-pg.txt \
	build-asan/meson-logs/testlog.txt build-clang/meson-logs/testlog.txt; do
	[ -f "$log" ] || continue
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	bad=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${bad:-0}))
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
