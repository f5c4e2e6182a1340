#include "schema/rollup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/limits.h"
#include "schema/db.h"
#include "schema/report.h"
#include "schema/sql.h"
#include "schema/sql_impl.h"
#include "schema/weeks.h"

/*
 * The rollups' deltas of the reports stored in this transaction, summed in
 * memory per key of each rollup table (trpt__rollup_add_report), so that
 * the commit writes each distinct key once from bound values (upsert) and
 * reads nothing back.  Measured (callgrind, 2,000 small reports in batches
 * of 1,000): the set-based flush below cost about 234,000 instructions a
 * report, about a third of the store thread's work.
 *
 * Keys hold interned strings (equal strings, one pointer), so that a key
 * is compared by its pointers and a number.
 */
enum {
	AGG_DAILY,
	AGG_ORG_DAY,
	AGG_DOMAIN_DAY,
	AGG_WEEKLY,
	AGG_DOMAIN_WEEK,
	AGG_FAILURES,
	AGG_FAILURES_WEEK, /* written from AGG_FAILURES (week_write) */
	AGG_TESTING,
	AGG_TESTING_WEEK, /* written from AGG_TESTING (testing_week_write) */
	AGG_N
};
#define AGG_STRS 5
#define AGG_VALS 3

/* A key: its strings in the table's sort order, with the number at
 * position numpos of that order. */
struct agg_ent {
	uint64_t h;
	int64_t num; /* day or week */
	const char *s[AGG_STRS];
	int64_t v[AGG_VALS];
	int numpos;
};

struct agg {
	struct agg_ent *e;
	size_t n, cap;
	uint32_t *slot; /* index + 1 into e, 0 free; open addressing */
	size_t nslot;   /* power of 2 */
};

/* Interned strings: a set of pointers into chunks of text. */
struct pool {
	const char **slot;
	uint64_t *hash;
	size_t n, nslot;
	struct chunk {
		struct chunk *next;
		size_t used, cap;
		char text[];
	} * chunks;
};

/* The reports queued by this connection's transaction, with their sign. */
struct trpt__rollup_queue {
	struct qent {
		int64_t report;
		int64_t sign;
	} * v;
	size_t n, cap;
	/* Reports summed in memory (their ids, for the fallback), and the
	 * sums per table; overflow: a sum left int64, so the commit adds
	 * those reports the set-based way (which reports it as before). */
	int64_t *mem;
	size_t nmem, capmem;
	int overflow;
	struct agg agg[AGG_N];
	struct pool pool;
};

/*
 * The queue as a temporary table (the connection's own, whatever other
 * writers do), and the per (report, policy domain, policy type) sums of
 * its reports with the one type that counts per (report, domain) marked
 * best.  Created on every flush that needs them: a transaction that
 * rolled back took a table it created with it.
 */
static const char ddl_sqlite[] =
    "CREATE TEMP TABLE IF NOT EXISTS rollup_pending ("
    " report INTEGER PRIMARY KEY, sign INTEGER NOT NULL);"
    "CREATE TEMP TABLE IF NOT EXISTS rollup_groups ("
    " report INTEGER NOT NULL, sign INTEGER NOT NULL, day INTEGER NOT NULL,"
    " org TEXT NOT NULL, domain TEXT NOT NULL, type TEXT NOT NULL,"
    " s INTEGER NOT NULL, f INTEGER NOT NULL, details INTEGER NOT NULL,"
    " testing INTEGER NOT NULL, best INTEGER NOT NULL)";
static const char ddl_pg[] =
    "CREATE TEMP TABLE IF NOT EXISTS rollup_pending ("
    " report BIGINT PRIMARY KEY, sign BIGINT NOT NULL);"
    "CREATE TEMP TABLE IF NOT EXISTS rollup_groups ("
    " report BIGINT NOT NULL, sign BIGINT NOT NULL, day BIGINT NOT NULL,"
    " org TEXT NOT NULL, domain TEXT NOT NULL, type TEXT NOT NULL,"
    " s BIGINT NOT NULL, f BIGINT NOT NULL, details BIGINT NOT NULL,"
    " testing BIGINT NOT NULL, best BIGINT NOT NULL)";

static const char sql_pending[] =
    "INSERT INTO rollup_pending (report, sign) VALUES (?, ?)";

/*
 * Every rollup cell stops at TRPT_MAX_ROLLUP_COUNT (common/limits.h)
 * instead of overflowing: a key may collect any number of reports, each
 * up to 2^63 - 1 sessions (schema/store.c), which would fail the whole
 * batch (PostgreSQL: bigint out of range; SQLite: "integer overflow" from
 * sum(), or a REAL the STRICT column refuses).  Capped cells also keep
 * the readers' plain sum() over fewer than 2^23 of them within int64.
 * CAP(X) caps one value or sum; each sum below adds capped values, at
 * most 100,000 policies or 1,000,000 failure details of one report, or
 * the groups of one transaction, so it cannot overflow first.  ADD(T, C)
 * is the upsert's C = T.C + excluded.C, capped without overflowing (an
 * in-memory sum, excluded.C, may be anything up to INT64_MAX).  Counts
 * below the cap come out exact.
 */
#define MAXC TRPT_MAX_ROLLUP_COUNT_SQL
#define CAP(X)                                                                 \
	"CASE WHEN " X " > " MAXC " THEN " MAXC " WHEN " X " < -" MAXC         \
	" THEN -" MAXC " ELSE " X " END"
#define SUMSAT(E) CAP("sum(" E ")")
#define ADD(t, c)                                                              \
	" " c " = CASE WHEN excluded." c " > " MAXC " - " t "." c              \
	" THEN " MAXC " ELSE " t "." c " + excluded." c " END"

/*
 * The guard.  CROSS JOIN fixes SQLite's join order (queue, then reports
 * and policies by their keys; it has no statistics on a temporary table);
 * PostgreSQL plans it as an inner join.  Ties go to the first type in
 * byte order (COLLATE "C" for PostgreSQL).
 */
#define GROUPS(COLLATE)                                                        \
	"INSERT INTO rollup_groups (report, sign, day, org, domain, type, s,"  \
	" f, details, testing, best)"                                          \
	" SELECT report, sign, day, org, domain, type, s, f, details,"         \
	" testing, CASE WHEN row_number() OVER (PARTITION BY report, domain"   \
	" ORDER BY s + f DESC, type" COLLATE ") = 1 THEN 1 ELSE 0 END"         \
	" FROM (SELECT r.id AS report, q.sign AS sign, r.day AS day,"          \
	" r.organization_name AS org, p.policy_domain AS domain,"              \
	" p.policy_type AS type,"                                              \
	" " SUMSAT(CAP(                                                        \
	    "p.successful")) " AS s,"                                          \
			     " " SUMSAT(CAP(                                   \
				 "p.failed")) " AS f,"                         \
					      " " SUMSAT(CAP(                  \
						  "p.details_failed")) " AS "  \
								       "detai" \
								       "ls,"   \
								       " max(" \
								       "CASE " \
								       "WHEN " \
								       "p."    \
								       "polic" \
								       "y_"    \
								       "type " \
								       "="     \
								       " '"    \
								       "sts' " \
								       "AND "  \
								       "p."    \
								       "sts_"  \
								       "mode " \
								       "= "    \
								       "'test" \
								       "ing' " \
								       "THEN " \
								       "1 "    \
								       "ELSE " \
								       "0 "    \
								       "END) " \
								       "AS "   \
								       "testi" \
								       "ng"    \
								       " FROM" \
								       " roll" \
								       "up_"   \
								       "pendi" \
								       "ng q " \
								       "CROSS" \
								       " JOIN" \
								       " repo" \
								       "rts "  \
								       "r "    \
								       "CROSS" \
								       " JOIN" \
								       " poli" \
								       "cies " \
								       "p"     \
								       " WHER" \
								       "E "    \
								       "r.id " \
								       "= "    \
								       "q."    \
								       "repor" \
								       "t "    \
								       "AND "  \
								       "p."    \
								       "repor" \
								       "t = "  \
								       "r.id"  \
								       " GROU" \
								       "P BY " \
								       "r.id," \
								       " q."   \
								       "sign," \
								       " r."   \
								       "day, " \
								       "r."    \
								       "organ" \
								       "izati" \
								       "on_"   \
								       "name," \
								       " p."   \
								       "polic" \
								       "y_"    \
								       "domai" \
								       "n,"    \
								       " p."   \
								       "polic" \
								       "y_"    \
								       "type)" \
								       " g"
static const char sql_groups_sqlite[] = GROUPS("");
static const char sql_groups_pg[] = GROUPS(" COLLATE \"C\"");

/*
 * Each rollup from the groups, in key order (writers on one PostgreSQL
 * then take their row locks in the same order).  The WHERE before ON
 * CONFLICT is what SQLite's parser needs after a SELECT.
 */
/* clang-format off */
static const char *const sql_apply[] = {
	"INSERT INTO rollup_daily (domain, day, org, successful, failed,"
	" reports) SELECT domain, day, org, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign") ","
	" " SUMSAT("sign") " FROM rollup_groups WHERE best = 1"
	" GROUP BY domain, day, org ORDER BY domain, day, org"
	" ON CONFLICT (domain, day, org) DO UPDATE SET"
	ADD("rollup_daily", "successful") ","
	ADD("rollup_daily", "failed") ","
	ADD("rollup_daily", "reports"),

	"INSERT INTO rollup_org_day (org, day, successful, failed)"
	" SELECT org, day, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign") " FROM rollup_groups"
	" WHERE best = 1 GROUP BY org, day ORDER BY org, day"
	" ON CONFLICT (org, day) DO UPDATE SET"
	ADD("rollup_org_day", "successful") ","
	ADD("rollup_org_day", "failed"),

	"INSERT INTO rollup_domain_day (domain, day, successful, failed)"
	" SELECT domain, day, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign") " FROM rollup_groups"
	" WHERE best = 1 GROUP BY domain, day ORDER BY domain, day"
	" ON CONFLICT (domain, day) DO UPDATE SET"
	ADD("rollup_domain_day", "successful") ","
	ADD("rollup_domain_day", "failed"),

	/* week = (day + 3) / 7 counts Mondays from 1970-01-05; its block
	 * and place in rollup_weeks (schema/weeks.h) week >> 5, week & 31.
	 * A block's weeks are distinct: the aggregate adds nothing up.
	 * PostgreSQL's sum of bigint is numeric: cast back for the
	 * functions. */
	"INSERT INTO rollup_weeks (domain, org, block, cells)"
	" SELECT domain, org, week >> 5,"
	" trpt_weeks_agg(trpt_weeks_cell(week & 31, s, f))"
	" FROM (SELECT domain, org, (day + 3) / 7 AS week,"
	" CAST(" SUMSAT("s * sign") " AS BIGINT) AS s,"
	" CAST(" SUMSAT("f * sign") " AS BIGINT) AS f"
	" FROM rollup_groups WHERE best = 1"
	" GROUP BY domain, org, (day + 3) / 7) x"
	" GROUP BY domain, org, week >> 5 ORDER BY domain, org, week >> 5"
	" ON CONFLICT (domain, org, block) DO UPDATE SET"
	" cells = trpt_weeks_add(rollup_weeks.cells, excluded.cells)",

	"INSERT INTO rollup_domain_week (domain, week, successful, failed)"
	" SELECT domain, (day + 3) / 7, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign")
	" FROM rollup_groups WHERE best = 1 GROUP BY domain, (day + 3) / 7"
	" ORDER BY domain, (day + 3) / 7"
	" ON CONFLICT (domain, week) DO UPDATE SET"
	ADD("rollup_domain_week", "successful") ","
	ADD("rollup_domain_week", "failed"),

	/* Capped per report first: 1,000,000 details of one report stay
	 * within int64, not those of a whole transaction. */
	"INSERT INTO rollup_failures (day, org, domain, result_type, mx, ip,"
	" failed) SELECT day, org, domain, result_type, mx, ip,"
	" " SUMSAT("m") " FROM"
	" (SELECT day, org, domain, result_type, mx, ip, " SUMSAT("n") " AS m"
	" FROM (SELECT g.report AS report, g.day AS day, g.org AS org,"
	" g.domain AS domain, f.result_type AS result_type,"
	" coalesce(f.receiving_mx_hostname, '') AS mx,"
	" coalesce(f.sending_mta_ip, '') AS ip,"
	" " CAP("f.failed_session_count") " * g.sign AS n"
	" FROM rollup_groups g CROSS JOIN policies p CROSS JOIN failures f"
	" WHERE p.report = g.report AND p.policy_domain = g.domain"
	" AND p.policy_type = g.type AND f.policy = p.id AND g.best = 1"
	" AND g.details > 0 AND f.failed_session_count > 0"
	" UNION ALL SELECT report, day, org, domain, '', '', '',"
	" (f - details) * sign"
	" FROM rollup_groups WHERE best = 1 AND f > details) x"
	" GROUP BY report, day, org, domain, result_type, mx, ip) y"
	" WHERE 1 = 1 GROUP BY day, org, domain, result_type, mx, ip"
	" ORDER BY day, org, domain, result_type, mx, ip"
	" ON CONFLICT (day, org, domain, result_type, mx, ip) DO UPDATE SET"
	ADD("rollup_failures", "failed"),

	"INSERT INTO rollup_testing (day, org, domain, successful, failed)"
	" SELECT day, org, domain, " SUMSAT("s * sign") ","
	" " SUMSAT("f * sign")
	" FROM rollup_groups WHERE testing = 1 AND f > 0"
	" GROUP BY day, org, domain ORDER BY domain, day, org"
	" ON CONFLICT (domain, day, org) DO UPDATE SET"
	ADD("rollup_testing", "successful") ","
	ADD("rollup_testing", "failed"),
};
/* clang-format on */

/* rollup_testing_week's c plus the batch's, or the week's days summed
 * again when that passes the cap. */
#define TESTING_WEEK_ADD(c)                                                    \
	" " c " = CASE WHEN excluded." c " > " MAXC                            \
	" - rollup_testing_week." c " THEN (SELECT sum(t." c ") FROM"          \
	" rollup_testing t WHERE t.domain = excluded.domain AND t.day BETWEEN" \
	" excluded.week * 7 - 3 AND excluded.week * 7 + 3) ELSE"               \
	" rollup_testing_week." c " + excluded." c " END"

/*
 * The upserts of the in-memory sums, 1, 8 or 32 keys a statement (one
 * round trip each on PostgreSQL), in each table's key order as above.
 */
#define ROWS8(r)  r ", " r ", " r ", " r ", " r ", " r ", " r ", " r
#define ROWS32(r) ROWS8(r) ", " ROWS8(r) ", " ROWS8(r) ", " ROWS8(r)
#define UPSERT(head, row, tail)                                                \
	{                                                                      \
		head row tail, head ROWS8(row) tail, head ROWS32(row) tail     \
	}
static const char *const sql_upsert[AGG_N][3] = {
	[AGG_DAILY] = UPSERT("INSERT INTO rollup_daily (domain, day, org,"
			     " successful, failed, reports) VALUES ",
	    "(?, ?, ?, ?, ?, ?)",
	    " ON CONFLICT (domain, day, org) DO UPDATE SET" ADD(
		"rollup_daily", "successful") "," ADD("rollup_daily",
		"failed") "," ADD("rollup_daily", "reports")),
	[AGG_ORG_DAY] = UPSERT("INSERT INTO rollup_org_day (org, day,"
			       " successful, failed) VALUES ",
	    "(?, ?, ?, ?)",
	    " ON CONFLICT (org, day) DO UPDATE SET" ADD("rollup_org_day",
		"successful") "," ADD("rollup_org_day", "failed")),
	[AGG_DOMAIN_DAY] = UPSERT("INSERT INTO rollup_domain_day (domain, day,"
				  " successful, failed) VALUES ",
	    "(?, ?, ?, ?)",
	    " ON CONFLICT (domain, day) DO UPDATE SET" ADD("rollup_domain_day",
		"successful") "," ADD("rollup_domain_day", "failed")),
	/* A block's cells at once (weeks_write); trpt_weeks_add caps as
	 * ADD does. */
	[AGG_WEEKLY] = UPSERT("INSERT INTO rollup_weeks (domain, org, block,"
			      " cells) VALUES ",
	    "(?, ?, ?, ?)",
	    " ON CONFLICT (domain, org, block) DO UPDATE SET cells ="
	    " trpt_weeks_add(rollup_weeks.cells, excluded.cells)"),
	[AGG_DOMAIN_WEEK] = UPSERT("INSERT INTO rollup_domain_week (domain,"
				   " week, successful, failed) VALUES ",
	    "(?, ?, ?, ?)",
	    " ON CONFLICT (domain, week) DO UPDATE SET" ADD(
		"rollup_domain_week",
		"successful") "," ADD("rollup_domain_week", "failed")),
	[AGG_FAILURES] = UPSERT("INSERT INTO rollup_failures (day, org, domain,"
				" result_type, mx, ip, failed) VALUES ",
	    "(?, ?, ?, ?, ?, ?, ?)",
	    " ON CONFLICT (day, org, domain, result_type, mx, ip) DO UPDATE"
	    " SET" ADD("rollup_failures", "failed")),
	/* A week's cells are at most TRPT_MAX_ROLLUP_COUNT each, so its
	 * sum grows by the batch's (capped) cells unless one of them
	 * stopped at the cap, which needs the week's sum past the cap:
	 * then the week is summed again from its days. */
	[AGG_FAILURES_WEEK] = UPSERT("INSERT INTO rollup_failures_week (domain,"
				     " week, org, result_type, mx, ip, failed)"
				     " VALUES ",
	    "(?, ?, ?, ?, ?, ?, ?)",
	    " ON CONFLICT (domain, week, org, result_type, mx, ip) DO UPDATE"
	    " SET failed = CASE WHEN excluded.failed > " MAXC
	    " - rollup_failures_week.failed THEN (SELECT sum(f.failed) FROM"
	    " rollup_failures f WHERE f.domain = excluded.domain AND"
	    " f.result_type = excluded.result_type AND f.day BETWEEN"
	    " excluded.week * 7 - 9 AND excluded.week * 7 + 9 AND"
	    " (f.day + 3) / 7 = excluded.week AND f.org = excluded.org AND"
	    " f.mx = excluded.mx AND f.ip = excluded.ip) ELSE"
	    " rollup_failures_week.failed + excluded.failed END"),
	[AGG_TESTING] = UPSERT("INSERT INTO rollup_testing (day, org, domain,"
			       " successful, failed) VALUES ",
	    "(?, ?, ?, ?, ?)",
	    " ON CONFLICT (domain, day, org) DO UPDATE SET" ADD(
		"rollup_testing", "successful") "," ADD("rollup_testing",
		"failed")),
	/* Migration 0027: the week's sums of its rollup_testing cells, not
	 * capped (at most 7 days of each sender's capped cells).  The batch
	 * adds the sums of the cells it wrote, each capped, unless a sum
	 * passes the cap: then a cell may have stopped at it, and the week
	 * is summed again from its days. */
	[AGG_TESTING_WEEK] = UPSERT("INSERT INTO rollup_testing_week (domain,"
				    " week, successful, failed) VALUES ",
	    "(?, ?, ?, ?)",
	    " ON CONFLICT (domain, week) DO UPDATE SET" TESTING_WEEK_ADD(
		"successful") "," TESTING_WEEK_ADD("failed")),
};

/*
 * Each table's columns in its statement: '0'-'4' a string of the key,
 * 'N' its number, 'a'-'c' the sums.
 */
static const char *const agg_cols[AGG_N] = {
	[AGG_DAILY] = "0N1abc",
	[AGG_ORG_DAY] = "0Nab",
	[AGG_DOMAIN_DAY] = "0Nab",
	[AGG_WEEKLY] = "01NW", /* weeks_write */
	[AGG_DOMAIN_WEEK] = "0Nab",
	[AGG_FAILURES] = "N01234a",
	[AGG_FAILURES_WEEK] = "0N1234a",
	[AGG_TESTING] = "N10ab",
	[AGG_TESTING_WEEK] = "0Nab",
};

/*
 * After a report was taken out: the rows left without any report, on the
 * days (and weeks) it counted on.  A rollup_daily row counts its reports;
 * the sums exist where rollup_daily has a row; every failure and testing
 * row counts failed sessions, more than 0 for each report in it.
 */
#define NEG_DAYS  "(SELECT day FROM rollup_groups WHERE sign < 0)"
#define NEG_WEEKS "(SELECT (day + 3) / 7 FROM rollup_groups WHERE sign < 0)"
static const char *const sql_prune_empty[] = {
	"DELETE FROM rollup_daily WHERE reports = 0 AND day IN " NEG_DAYS,
	"DELETE FROM rollup_org_day WHERE day IN " NEG_DAYS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.org = rollup_org_day.org AND d.day = rollup_org_day.day)",
	"DELETE FROM rollup_domain_day WHERE day IN " NEG_DAYS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.domain = rollup_domain_day.domain AND"
	" d.day = rollup_domain_day.day)",
	/* rollup_weeks: the cells of those weeks, in the blocks of the
	 * (domain, org) pairs that lost sessions; a row left without any
	 * cell after them. */
	"UPDATE rollup_weeks SET cells = trpt_weeks_drop(cells, (SELECT"
	" CAST(coalesce(sum(CAST(1 AS BIGINT) << CAST(w.week & 31 AS"
	" INTEGER)), 0) AS BIGINT)"
	" FROM (SELECT DISTINCT (day + 3) / 7 AS week FROM rollup_groups"
	" WHERE sign < 0) w WHERE w.week >> 5 = rollup_weeks.block AND"
	" NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.domain = rollup_weeks.domain AND d.org = rollup_weeks.org AND"
	" d.day BETWEEN w.week * 7 - 3 AND w.week * 7 + 3)))"
	" WHERE domain IN (SELECT domain FROM rollup_groups WHERE sign < 0)"
	" AND EXISTS (SELECT 1 FROM rollup_groups g WHERE g.sign < 0 AND"
	" g.domain = rollup_weeks.domain AND g.org = rollup_weeks.org AND"
	" ((g.day + 3) / 7) >> 5 = rollup_weeks.block)",
	"DELETE FROM rollup_weeks WHERE length(cells) = 0 AND domain IN"
	" (SELECT domain FROM rollup_groups WHERE sign < 0)",
	"DELETE FROM rollup_domain_week WHERE week IN " NEG_WEEKS
	" AND NOT EXISTS (SELECT 1 FROM rollup_daily d WHERE"
	" d.domain = rollup_domain_week.domain AND"
	" d.day BETWEEN rollup_domain_week.week * 7 - 3 AND"
	" rollup_domain_week.week * 7 + 3)",
	"DELETE FROM rollup_failures WHERE failed = 0 AND day IN " NEG_DAYS,
	"DELETE FROM rollup_testing WHERE failed = 0 AND day IN " NEG_DAYS,
};

/*
 * rollup_failures_week and rollup_type_first (migrations 0016, 0018,
 * 0022) follow rollup_failures.  The commit's sums in memory add to them
 * (mem_flush); the set-based path (a copy taken out of the counts and
 * another counted instead, or a sum past int64) computes the weeks and
 * the first days of the domains it touched again, from rollup_failures
 * as it leaves them: exact whatever was added or taken out.  Driven by
 * the groups' domains (rollup_failures_domain leads with the domain).
 */
#define GROUP_WEEKS                                                            \
	"(SELECT DISTINCT domain, (day + 3) / 7 AS w FROM rollup_groups)"
static const char *const sql_derive_groups[] = {
	"DELETE FROM rollup_failures_week WHERE EXISTS (SELECT 1 FROM"
	" rollup_groups g WHERE g.domain = rollup_failures_week.domain AND"
	" (g.day + 3) / 7 = rollup_failures_week.week)",
	"INSERT INTO rollup_failures_week (domain, week, org, result_type, mx,"
	" ip, failed) SELECT f.domain, (f.day + 3) / 7, f.org,"
	" f.result_type, f.mx, f.ip, sum(f.failed) FROM " GROUP_WEEKS
	" g CROSS JOIN rollup_failures f WHERE f.domain = g.domain AND f.day"
	" BETWEEN g.w * 7 - 9 AND g.w * 7 + 9 AND (f.day + 3) / 7 = g.w"
	" GROUP BY f.domain, (f.day + 3) / 7, f.org, f.result_type, f.mx,"
	" f.ip",
	"DELETE FROM rollup_type_first WHERE domain IN (SELECT domain FROM"
	" rollup_groups)",
	"INSERT INTO rollup_type_first (domain, result_type, first_day)"
	" SELECT domain, result_type, min(day) FROM rollup_failures WHERE"
	" result_type <> '' AND domain IN (SELECT domain FROM rollup_groups)"
	" GROUP BY domain, result_type",
	/* rollup_testing_week (0027) from rollup_testing, the same way. */
	"DELETE FROM rollup_testing_week WHERE domain IN (SELECT domain FROM"
	" rollup_groups WHERE testing = 1) AND EXISTS (SELECT 1 FROM"
	" rollup_groups g WHERE g.testing = 1 AND"
	" g.domain = rollup_testing_week.domain AND"
	" (g.day + 3) / 7 = rollup_testing_week.week)",
	"INSERT INTO rollup_testing_week (domain, week, successful, failed)"
	" SELECT t.domain, (t.day + 3) / 7, sum(t.successful), sum(t.failed)"
	" FROM (SELECT DISTINCT domain, (day + 3) / 7 AS w FROM rollup_groups"
	" WHERE testing = 1) g CROSS JOIN rollup_testing t WHERE"
	" t.domain = g.domain AND t.day BETWEEN g.w * 7 - 3 AND g.w * 7 + 3"
	" GROUP BY t.domain, (t.day + 3) / 7",
};

/* The same from all of rollup_failures (trpt_rollup_derive). */
static const char sql_derive_all[] =
    "DELETE FROM rollup_failures_week; DELETE FROM rollup_type_first;"
    " INSERT INTO rollup_failures_week (domain, week, org, result_type, mx,"
    " ip, failed) SELECT domain, (day + 3) / 7, org, result_type, mx, ip,"
    " sum(failed) FROM rollup_failures GROUP BY domain, (day + 3) / 7,"
    " org, result_type, mx, ip;"
    " INSERT INTO rollup_type_first (domain, result_type, first_day)"
    " SELECT domain, result_type, min(day) FROM rollup_failures WHERE"
    " result_type <> '' GROUP BY domain, result_type;"
    " DELETE FROM rollup_testing_week;"
    " INSERT INTO rollup_testing_week (domain, week, successful, failed)"
    " SELECT domain, (day + 3) / 7, sum(successful), sum(failed) FROM"
    " rollup_testing GROUP BY domain, (day + 3) / 7";

static const char sql_clear_groups[] = "DELETE FROM rollup_groups";
static const char sql_clear_pending[] = "DELETE FROM rollup_pending";

static const char sql_clear_all[] =
    "DELETE FROM rollup_daily; DELETE FROM rollup_org_day;"
    " DELETE FROM rollup_domain_day; DELETE FROM rollup_weeks;"
    " DELETE FROM rollup_domain_week; DELETE FROM rollup_failures;"
    " DELETE FROM rollup_testing; DELETE FROM rollup_failures_week;"
    " DELETE FROM rollup_type_first; DELETE FROM rollup_testing_week";
static const char sql_pending_all[] =
    "INSERT INTO rollup_pending (report, sign)"
    " SELECT id, 1 FROM reports WHERE counted = 1";

static uint64_t
mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

static void
pool_reset(struct pool *p, int release)
{
	struct chunk *c, *next;

	for (c = p->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	p->chunks = NULL;
	p->n = 0;
	if (release) {
		free(p->slot);
		free(p->hash);
		p->slot = NULL;
		p->hash = NULL;
		p->nslot = 0;
	} else if (p->nslot > 0)
		memset(p->slot, 0, p->nslot * sizeof(*p->slot));
}

static int
pool_grow(struct pool *p)
{
	const char **os = p->slot, **ns;
	uint64_t *oh = p->hash, *nh;
	size_t on = p->nslot, nn = on ? on * 2 : 256, i, j;

	ns = calloc(nn, sizeof(*ns));
	nh = calloc(nn, sizeof(*nh));
	if (ns == NULL || nh == NULL) {
		free(ns);
		free(nh);
		return TRPT_ENOMEM;
	}
	for (i = 0; i < on; i++) {
		if (os[i] == NULL)
			continue;
		for (j = oh[i] & (nn - 1); ns[j] != NULL;
		     j = (j + 1) & (nn - 1))
			;
		ns[j] = os[i];
		nh[j] = oh[i];
	}
	free(os);
	free(oh);
	p->slot = ns;
	p->hash = nh;
	p->nslot = nn;
	return TRPT_OK;
}

/* The one copy of s in the pool (NULL when out of memory). */
static const char *
intern(struct pool *p, const char *s)
{
	size_t n = strlen(s), i, cap;
	uint64_t h = trpt_hash_fnv1a(s, n);
	struct chunk *c;
	char *t;

	if ((p->n + 1) * 2 > p->nslot && pool_grow(p) != TRPT_OK)
		return NULL;
	for (i = h & (p->nslot - 1); p->slot[i] != NULL;
	     i = (i + 1) & (p->nslot - 1))
		if (p->hash[i] == h && strcmp(p->slot[i], s) == 0)
			return p->slot[i];
	c = p->chunks;
	if (c == NULL || c->cap - c->used < n + 1) {
		cap = n + 1 > 16384 ? n + 1 : 16384;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = p->chunks;
		p->chunks = c;
	}
	t = c->text + c->used;
	memcpy(t, s, n + 1);
	c->used += n + 1;
	p->slot[i] = t;
	p->hash[i] = h;
	p->n++;
	return t;
}

static void
agg_reset(struct agg *a, int release)
{
	a->n = 0;
	if (release) {
		free(a->e);
		free(a->slot);
		memset(a, 0, sizeof(*a));
	} else if (a->nslot > 0)
		memset(a->slot, 0, a->nslot * sizeof(*a->slot));
}

static int
agg_grow(struct agg *a)
{
	size_t nn = a->nslot ? a->nslot * 2 : 256, i, j;
	uint32_t *ns;

	if (nn > UINT32_MAX || (ns = calloc(nn, sizeof(*ns))) == NULL)
		return TRPT_ENOMEM;
	for (i = 0; i < a->n; i++) {
		for (j = a->e[i].h & (nn - 1); ns[j] != 0;
		     j = (j + 1) & (nn - 1))
			;
		ns[j] = (uint32_t)(i + 1);
	}
	free(a->slot);
	a->slot = ns;
	a->nslot = nn;
	return TRPT_OK;
}

/*
 * Adds v[0..nv) to the sums of key (num, s[0..AGG_STRS), interned or
 * NULL).  A sum that would leave int64 sets *overflow and adds nothing.
 */
static int
agg_add(struct agg *a, int64_t num, int numpos, const char *const *s,
    const int64_t *v, int nv, int *overflow)
{
	struct agg_ent *e, *ne;
	uint64_t h = mix(0, (uint64_t)num);
	size_t i, ncap;
	int k;

	for (k = 0; k < AGG_STRS; k++)
		h = mix(h, (uint64_t)(uintptr_t)s[k]);
	if ((a->n + 1) * 2 > a->nslot && agg_grow(a) != TRPT_OK)
		return TRPT_ENOMEM;
	for (i = h & (a->nslot - 1); a->slot[i] != 0;
	     i = (i + 1) & (a->nslot - 1)) {
		e = &a->e[a->slot[i] - 1];
		if (e->h != h || e->num != num ||
		    memcmp(e->s, s, sizeof(e->s)) != 0)
			continue;
		for (k = 0; k < nv; k++)
			if (__builtin_add_overflow(
				e->v[k], v[k], &(int64_t){ 0 }))
				break;
		if (k < nv) {
			*overflow = 1;
			return TRPT_OK;
		}
		for (k = 0; k < nv; k++)
			e->v[k] += v[k];
		return TRPT_OK;
	}
	if (a->n == a->cap) {
		ncap = a->cap ? a->cap * 2 : 128;
		if ((ne = realloc(a->e, ncap * sizeof(*ne))) == NULL)
			return TRPT_ENOMEM;
		a->e = ne;
		a->cap = ncap;
	}
	e = &a->e[a->n];
	memset(e, 0, sizeof(*e));
	e->h = h;
	e->num = num;
	e->numpos = numpos;
	memcpy(e->s, s, sizeof(e->s));
	for (k = 0; k < nv; k++)
		e->v[k] = v[k];
	a->slot[i] = (uint32_t)(++a->n);
	return TRPT_OK;
}

/* One (policy domain, policy type) of a report: the guard's group. */
struct group {
	const char *domain, *type;
	int64_t s, f, details;
	int testing, best;
};

/* A report's contribution to the rollups, as GROUPS and sql_apply. */
static int
agg_report(struct trpt__rollup_queue *q, const struct trpt_report *r,
    int64_t day, const int64_t *details, const char *const *mode,
    struct group *g)
{
	const struct trpt_policy *pol;
	const struct trpt_failure *fd;
	const char *org, *dom, *k[AGG_STRS];
	int64_t v[AGG_VALS], week = (day + 3) / 7;
	size_t i, j, n = 0, x, y;
	int rc = TRPT_OK, *ov = &q->overflow;

	for (i = 0; i < r->npolicies; i++) {
		pol = &r->policies[i];
		for (j = 0; j < n; j++)
			if (strcmp(g[j].domain, pol->policy_domain) == 0 &&
			    strcmp(g[j].type, pol->policy_type) == 0)
				break;
		if (j == n) {
			memset(&g[n], 0, sizeof(g[n]));
			g[n].domain = pol->policy_domain;
			g[n].type = pol->policy_type;
			n++;
		}
		if (__builtin_add_overflow(g[j].s, pol->successful, &g[j].s) ||
		    __builtin_add_overflow(g[j].f, pol->failed, &g[j].f) ||
		    __builtin_add_overflow(
			g[j].details, details[i], &g[j].details)) {
			*ov = 1;
			return TRPT_OK;
		}
		if (strcmp(pol->policy_type, "sts") == 0 && mode[i] != NULL &&
		    strcmp(mode[i], "testing") == 0)
			g[j].testing = 1;
	}
	/* Per domain, the type with the most sessions, ties to the first
	 * in byte order (prep_report saw that the sums fit). */
	for (i = 0; i < n; i++) {
		g[i].best = 1;
		for (j = 0; j < n && g[i].best; j++)
			if (j != i && strcmp(g[j].domain, g[i].domain) == 0 &&
			    (g[j].s + g[j].f > g[i].s + g[i].f ||
				(g[j].s + g[j].f == g[i].s + g[i].f &&
				    strcmp(g[j].type, g[i].type) < 0)))
				g[i].best = 0;
	}
	if ((org = intern(&q->pool, r->organization_name)) == NULL)
		return TRPT_ENOMEM;
	for (i = 0; i < n && rc == TRPT_OK && !*ov; i++) {
		if (!g[i].best && !(g[i].testing && g[i].f > 0))
			continue;
		if ((dom = intern(&q->pool, g[i].domain)) == NULL)
			return TRPT_ENOMEM;
		memset(k, 0, sizeof(k));
		v[0] = g[i].s;
		v[1] = g[i].f;
		v[2] = 1;
		if (g[i].testing && g[i].f > 0) {
			k[0] = dom;
			k[1] = org;
			rc = agg_add(&q->agg[AGG_TESTING], day, 1, k, v, 2, ov);
		}
		if (!g[i].best || rc != TRPT_OK)
			continue;
		k[0] = dom;
		k[1] = org;
		if ((rc = agg_add(&q->agg[AGG_DAILY], day, 1, k, v, 3, ov)) !=
			TRPT_OK ||
		    (rc = agg_add(&q->agg[AGG_WEEKLY], week, 2, k, v, 2, ov)) !=
			TRPT_OK)
			break;
		k[1] = NULL;
		if ((rc = agg_add(&q->agg[AGG_DOMAIN_DAY], day, 1, k, v, 2,
			 ov)) != TRPT_OK ||
		    (rc = agg_add(&q->agg[AGG_DOMAIN_WEEK], week, 1, k, v, 2,
			 ov)) != TRPT_OK)
			break;
		k[0] = org;
		if ((rc = agg_add(&q->agg[AGG_ORG_DAY], day, 1, k, v, 2, ov)) !=
		    TRPT_OK)
			break;
		/* Failed sessions per failure detail of the counted type,
		 * and those the details do not account for under ''. */
		k[0] = org;
		k[1] = dom;
		for (x = 0; g[i].details > 0 && x < r->npolicies; x++) {
			pol = &r->policies[x];
			if (strcmp(pol->policy_domain, g[i].domain) != 0 ||
			    strcmp(pol->policy_type, g[i].type) != 0)
				continue;
			for (y = 0; y < pol->nfailures && rc == TRPT_OK; y++) {
				fd = &pol->failures[y];
				if (fd->failed_session_count <= 0)
					continue;
				k[2] = intern(&q->pool, fd->result_type);
				k[3] = intern(
				    &q->pool, fd->receiving_mx_hostname != NULL
						  ? fd->receiving_mx_hostname
						  : "");
				k[4] =
				    intern(&q->pool, fd->sending_mta_ip != NULL
							 ? fd->sending_mta_ip
							 : "");
				if (k[2] == NULL || k[3] == NULL ||
				    k[4] == NULL)
					return TRPT_ENOMEM;
				rc = agg_add(&q->agg[AGG_FAILURES], day, 0, k,
				    &fd->failed_session_count, 1, ov);
			}
		}
		if (rc == TRPT_OK && g[i].f > g[i].details) {
			if (__builtin_sub_overflow(
				g[i].f, g[i].details, &v[0])) {
				*ov = 1;
				break;
			}
			if ((k[2] = intern(&q->pool, "")) == NULL)
				return TRPT_ENOMEM;
			k[3] = k[4] = k[2];
			rc =
			    agg_add(&q->agg[AGG_FAILURES], day, 0, k, v, 1, ov);
		}
	}
	return rc;
}

static struct trpt__rollup_queue *
queue_of(struct trpt_db *db)
{
	if (db->rollup == NULL)
		db->rollup = calloc(1, sizeof(*db->rollup));
	return db->rollup;
}

int
trpt__rollup_add_report(struct trpt_db *db, int64_t report,
    const struct trpt_report *r, int64_t day, const int64_t *details_failed,
    const char *const *sts_mode, struct trpt_err *err)
{
	struct trpt__rollup_queue *q;
	struct group small[8], *g = small;
	int64_t *nm;
	size_t ncap;
	int rc;

	if ((q = queue_of(db)) == NULL)
		goto nomem;
	if (q->nmem == q->capmem) {
		ncap = q->capmem ? q->capmem * 2 : 64;
		if ((nm = realloc(q->mem, ncap * sizeof(*nm))) == NULL)
			goto nomem;
		q->mem = nm;
		q->capmem = ncap;
	}
	q->mem[q->nmem++] = report;
	if (q->overflow)
		return TRPT_OK;
	if (r->npolicies > sizeof(small) / sizeof(*small) &&
	    (g = calloc(r->npolicies, sizeof(*g))) == NULL)
		goto nomem;
	rc = agg_report(q, r, day, details_failed, sts_mode, g);
	if (g != small)
		free(g);
	if (rc == TRPT_OK)
		return TRPT_OK;
nomem:
	return trpt_err_set(err, TRPT_ENOMEM,
	    "database %s: out of memory summing a report for the rollups",
	    trpt_db_path(db));
}

/*
 * A sum as a cell takes it: a new key's row starts at most at the cap,
 * as the upserts' ADD and the set-based path's CAP leave it.
 */
static int64_t
cap(int64_t v)
{
	return v > TRPT_MAX_ROLLUP_COUNT    ? TRPT_MAX_ROLLUP_COUNT
	       : v < -TRPT_MAX_ROLLUP_COUNT ? -TRPT_MAX_ROLLUP_COUNT
					    : v;
}

/* Key order: the strings and the number, in the table's order. */
static int
cmp_agg(const void *a, const void *b)
{
	const struct agg_ent *x = *(const struct agg_ent *const *)a;
	const struct agg_ent *y = *(const struct agg_ent *const *)b;
	int i, k = 0, c;

	for (i = 0; i <= AGG_STRS; i++) {
		if (i == x->numpos) {
			if (x->num != y->num)
				return x->num < y->num ? -1 : 1;
			continue;
		}
		if (x->s[k] != y->s[k]) {
			if (x->s[k] == NULL || y->s[k] == NULL)
				return x->s[k] == NULL ? -1 : 1;
			if ((c = strcmp(x->s[k], y->s[k])) != 0)
				return c;
		}
		k++;
	}
	return 0;
}

/* Table t's upsert of nrow rows (32, 8 or 1). */
static const char *
upsert_sql(int t, size_t nrow)
{
	return sql_upsert[t][nrow == 32 ? 2 : nrow == 8 ? 1 : 0];
}

/* Upserts the sums v[0..n) of table t, in that order, 32, 8 or 1 keys a
 * statement; each capped as a cell (a week sums its capped days). */
static int
write_sorted(struct trpt_db *db, int t, const struct agg_ent *const *v,
    size_t n, struct trpt_err *err)
{
	const char *cols = agg_cols[t];
	const struct agg_ent *e;
	struct trpt_stmt *st;
	size_t i, j, k, nrow, ncol = strlen(cols);
	int rc = TRPT_OK, at;

	for (i = 0; i < n && rc == TRPT_OK; i += nrow) {
		nrow = n - i >= 32 ? 32 : n - i >= 8 ? 8 : 1;
		if ((rc = trpt_sql_cached(db, upsert_sql(t, nrow), &st, err)) !=
		    TRPT_OK)
			break;
		for (j = 0; j < nrow; j++) {
			e = v[i + j];
			for (k = 0; k < ncol; k++) {
				at = (int)(j * ncol + k + 1);
				if (cols[k] == 'N')
					trpt_sql_bind_int(st, at, e->num);
				else if (cols[k] >= 'a')
					trpt_sql_bind_int(st, at,
					    t == AGG_FAILURES_WEEK ||
						    t == AGG_TESTING_WEEK
						? e->v[cols[k] - 'a']
						: cap(e->v[cols[k] - 'a']));
				else
					trpt_sql_bind_text(
					    st, at, e->s[cols[k] - '0']);
			}
		}
		rc = trpt_sql_run(st, err);
	}
	return rc;
}

/*
 * rollup_weeks (schema/weeks.h) from the weekly sums v[0..n), in (domain,
 * org, week) order: one row per block, its cells (each capped) packed in
 * place order, 32, 8 or 1 rows a statement.
 */
static int
weeks_write(struct trpt_db *db, const struct agg_ent *const *v, size_t n,
    struct trpt_err *err)
{
	/* The statement's values, bound in place until it has run. */
	unsigned char cells[32][TRPT_WEEKS_MAX];
	size_t len[32], i = 0, j, k, nrow, nblock, at;
	int64_t block[32];
	struct trpt_stmt *st;
	int rc = TRPT_OK;

	while (i < n && rc == TRPT_OK) {
		/* Count the blocks ahead (at most 32) to pick the statement. */
		for (nblock = 0, j = i; j < n && nblock < 32; nblock++)
			for (k = j++; j < n && v[j]->s[0] == v[k]->s[0] &&
				      v[j]->s[1] == v[k]->s[1] &&
				      v[j]->num >> TRPT_WEEKS_SHIFT ==
					  v[k]->num >> TRPT_WEEKS_SHIFT;
			     j++)
				;
		nrow = nblock >= 32 ? 32 : nblock >= 8 ? 8 : 1;
		if ((rc = trpt_sql_cached(db, upsert_sql(AGG_WEEKLY, nrow), &st,
			 err)) != TRPT_OK)
			break;
		for (j = 0; j < nrow; j++) {
			block[j] = v[i]->num >> TRPT_WEEKS_SHIFT;
			at = 4 * j + 1;
			trpt_sql_bind_text(st, (int)at, v[i]->s[0]);
			trpt_sql_bind_text(st, (int)at + 1, v[i]->s[1]);
			trpt_sql_bind_int(st, (int)at + 2, block[j]);
			for (k = i, len[j] = 0;
			     k < n && v[k]->s[0] == v[i]->s[0] &&
			     v[k]->s[1] == v[i]->s[1] &&
			     v[k]->num >> TRPT_WEEKS_SHIFT == block[j];
			     k++, len[j] += TRPT_WEEKS_CELL)
				trpt_weeks_put(cells[j] + len[j],
				    (int)(v[k]->num & (TRPT_WEEKS_BLOCK - 1)),
				    cap(v[k]->v[0]), cap(v[k]->v[1]));
			trpt_sql_bind_blob(st, (int)at + 3, cells[j], len[j]);
			i = k;
		}
		rc = trpt_sql_run(st, err);
	}
	return rc;
}

/* Upserts the sums of table t, in key order. */
static int
agg_write(struct trpt_db *db, int t, struct trpt_err *err)
{
	struct agg *a = &db->rollup->agg[t];
	const struct agg_ent **v;
	size_t i;
	int rc;

	if (a->n == 0)
		return TRPT_OK;
	if ((v = malloc(a->n * sizeof(*v))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM,
		    "database %s: out of memory", trpt_db_path(db));
	for (i = 0; i < a->n; i++)
		v[i] = &a->e[i];
	qsort(v, a->n, sizeof(*v), cmp_agg);
	rc = t == AGG_WEEKLY ? weeks_write(db, v, a->n, err)
			     : write_sorted(db, t, v, a->n, err);
	free(v);
	return rc;
}

/* rollup_failures_week's key order (domain, week, org, result type, mx,
 * ip) of two rollup_failures keys (s: org, domain, type, mx, ip). */
static int
cmp_week(const void *a, const void *b)
{
	const struct agg_ent *x = *(const struct agg_ent *const *)a;
	const struct agg_ent *y = *(const struct agg_ent *const *)b;
	static const int order[] = { 1, -1, 0, 2, 3, 4 };
	int64_t wx = (x->num + 3) / 7, wy = (y->num + 3) / 7;
	size_t i;
	int c, k;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if ((k = order[i]) < 0) {
			if (wx != wy)
				return wx < wy ? -1 : 1;
		} else if (x->s[k] != y->s[k] &&
			   (c = strcmp(x->s[k], y->s[k])) != 0)
			return c;
	}
	return 0;
}

/*
 * A by-week table (week = (day + 3) / 7) written from the batch's sums of
 * its by-day table (from), each cell as it was written (capped): at most
 * 7 days a key, so no sum leaves int64.  After the by-day table is
 * written, its entries are not needed any more: sorted in the week
 * table's key order (cmp), each week's first entry becomes the week's
 * sum of its ncells cells, rekeyed as the week table's key (rekey), in
 * place (no second table in memory: the 5 MB report's 20,000 details
 * would hold 2-5 MiB more at its peak).
 */
static int
by_week_write(struct trpt_db *db, int from, int to,
    int (*cmp)(const void *, const void *), size_t ncells,
    void (*rekey)(struct agg_ent *), struct trpt_err *err)
{
	struct agg *a = &db->rollup->agg[from];
	struct agg_ent **v, *e;
	int64_t sum[2];
	size_t i, j, c, n = 0;
	int rc;

	if (a->n == 0)
		return TRPT_OK;
	if ((v = malloc(a->n * sizeof(*v))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM,
		    "database %s: out of memory", trpt_db_path(db));
	for (i = 0; i < a->n; i++)
		v[i] = &a->e[i];
	qsort(v, a->n, sizeof(*v), cmp);
	for (i = 0; i < a->n; i = j) {
		for (c = 0; c < ncells; c++)
			sum[c] = cap(v[i]->v[c]);
		for (j = i + 1; j < a->n && cmp(&v[i], &v[j]) == 0; j++)
			for (c = 0; c < ncells; c++)
				sum[c] += cap(v[j]->v[c]);
		e = v[i];
		rekey(e);
		e->num = (e->num + 3) / 7;
		e->numpos = 1;
		for (c = 0; c < ncells; c++)
			e->v[c] = sum[c];
		v[n++] = e;
	}
	rc = write_sorted(db, to, (const struct agg_ent *const *)v, n, err);
	free(v);
	return rc;
}

/* rollup_failures_week (0018): a rollup_failures key as its key (domain,
 * org, type, mx, ip). */
static void
failures_week_key(struct agg_ent *e)
{
	const char *org = e->s[0];

	e->s[0] = e->s[1];
	e->s[1] = org;
}

static int
week_write(struct trpt_db *db, struct trpt_err *err)
{
	return by_week_write(db, AGG_FAILURES, AGG_FAILURES_WEEK, cmp_week, 1,
	    failures_week_key, err);
}

/* rollup_testing_week's key order (domain, week) of two rollup_testing
 * keys (s: domain, org). */
static int
cmp_testing_week(const void *a, const void *b)
{
	const struct agg_ent *x = *(const struct agg_ent *const *)a;
	const struct agg_ent *y = *(const struct agg_ent *const *)b;
	int64_t wx = (x->num + 3) / 7, wy = (y->num + 3) / 7;
	int c;

	if (x->s[0] != y->s[0] && (c = strcmp(x->s[0], y->s[0])) != 0)
		return c;
	return wx < wy ? -1 : wx > wy;
}

/* rollup_testing_week (migration 0027): a rollup_testing key (domain,
 * org) as its key (domain), the week's senders summed. */
static void
testing_week_key(struct agg_ent *e)
{
	e->s[1] = NULL; /* domain */
}

static int
testing_week_write(struct trpt_db *db, struct trpt_err *err)
{
	return by_week_write(db, AGG_TESTING, AGG_TESTING_WEEK,
	    cmp_testing_week, 2, testing_week_key, err);
}

/*
 * rollup_type_first (migration 0016): the batch's (policy domain, result
 * type) pairs, each with its first day in the batch, in (domain, type)
 * order, written before rollup_failures; only a new pair or an earlier
 * first day changes a row.  Migration 0022 took the triggers that did
 * this row by row of rollup_failures.
 *
 * PostgreSQL: through rollup_type_first_add, which looks before it
 * writes (an upsert would lock the pair's row even when it changes
 * nothing); every writer takes the pairs' rows in the same order
 * (tests/unit/test_pg_deadlock.c: the triggers, in rollup_failures' key
 * order, deadlocked two writers creating the same pairs).  SQLite has one
 * writer at a time: an upsert.
 */
static const char *const sql_type_first[2][3] = {
#define TF_HEAD "SELECT rollup_type_first_add(v.d, v.t, v.f) FROM (VALUES "
#define TF_ROW  "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT))"
#define TF_TAIL ") AS v(d, t, f)"
	{ TF_HEAD TF_ROW TF_TAIL, TF_HEAD ROWS8(TF_ROW) TF_TAIL,
	    TF_HEAD ROWS32(TF_ROW) TF_TAIL },
#undef TF_HEAD
#undef TF_ROW
#undef TF_TAIL
#define TF_HEAD                                                                \
	"INSERT INTO rollup_type_first (domain, result_type, first_day)"       \
	" VALUES "
#define TF_ROW "(?, ?, ?)"
#define TF_TAIL                                                                \
	" ON CONFLICT (domain, result_type) DO UPDATE SET first_day ="         \
	" excluded.first_day WHERE excluded.first_day <"                       \
	" rollup_type_first.first_day"
	{ TF_HEAD TF_ROW TF_TAIL, TF_HEAD ROWS8(TF_ROW) TF_TAIL,
	    TF_HEAD ROWS32(TF_ROW) TF_TAIL },
#undef TF_HEAD
#undef TF_ROW
#undef TF_TAIL
};

/* (domain, result type, day) of two rollup_failures keys. */
static int
cmp_pair(const void *a, const void *b)
{
	const struct agg_ent *x = *(const struct agg_ent *const *)a;
	const struct agg_ent *y = *(const struct agg_ent *const *)b;
	int c;

	if (x->s[1] != y->s[1] && (c = strcmp(x->s[1], y->s[1])) != 0)
		return c;
	if (x->s[2] != y->s[2] && (c = strcmp(x->s[2], y->s[2])) != 0)
		return c;
	return x->num < y->num ? -1 : x->num > y->num;
}

static int
type_first(struct trpt_db *db, struct trpt_err *err)
{
	struct agg *a = &db->rollup->agg[AGG_FAILURES];
	const struct agg_ent **v, *e;
	struct trpt_stmt *st;
	size_t i, j, n = 0, m = 0, nrow, nreal;
	int rc = TRPT_OK, lite = trpt_sql_dialect(db) != TRPT_SQL_PG;

	if (a->n == 0)
		return TRPT_OK;
	if ((v = malloc(a->n * sizeof(*v))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM,
		    "database %s: out of memory", trpt_db_path(db));
	/* Keys: s[0] org, s[1] domain, s[2] result type; '' is not a
	 * type (no details). */
	for (i = 0; i < a->n; i++)
		if (a->e[i].s[2][0] != '\0')
			v[n++] = &a->e[i];
	qsort(v, n, sizeof(*v), cmp_pair);
	for (i = 0; i < n; i++) /* the first day of each pair */
		if (m == 0 || v[i]->s[1] != v[m - 1]->s[1] ||
		    v[i]->s[2] != v[m - 1]->s[2])
			v[m++] = v[i];
	/* One round trip per 32 pairs: a statement's spare rows repeat its
	 * last pair, which then finds its own row and writes nothing. */
	for (i = 0; i < m && rc == TRPT_OK; i += nreal) {
		nreal = m - i < 32 ? m - i : 32;
		nrow = nreal == 1 ? 1 : nreal <= 8 ? 8 : 32;
		if ((rc = trpt_sql_cached(db,
			 sql_type_first[lite][nrow == 32  ? 2
					      : nrow == 8 ? 1
							  : 0],
			 &st, err)) != TRPT_OK)
			break;
		for (j = 0; j < nrow; j++) {
			e = v[i + (j < nreal ? j : nreal - 1)];
			trpt_sql_bind_text(st, (int)(3 * j + 1), e->s[1]);
			trpt_sql_bind_text(st, (int)(3 * j + 2), e->s[2]);
			trpt_sql_bind_int(st, (int)(3 * j + 3), e->num);
		}
		while ((rc = trpt_sql_step(st, err)) > 0)
			;
		trpt_sql_reset(st);
	}
	free(v);
	return rc;
}

/* Forgets the in-memory sums (written, or their transaction is gone). */
static void
mem_reset(struct trpt__rollup_queue *q, int release)
{
	int t;

	for (t = 0; t < AGG_N; t++)
		agg_reset(&q->agg[t], release);
	pool_reset(&q->pool, release);
	q->nmem = 0;
	q->overflow = 0;
	if (release) {
		free(q->mem);
		q->mem = NULL;
		q->capmem = 0;
	}
}

/*
 * Writes the in-memory sums; when one would have overflowed, the reports
 * summed in memory are queued to go the set-based way instead.
 */
static int
mem_flush(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt__rollup_queue *q = db->rollup;
	size_t i;
	int t, rc = TRPT_OK;

	if (q->overflow)
		for (i = 0; i < q->nmem && rc == TRPT_OK; i++)
			rc = trpt__rollup_add(db, q->mem[i], 1, err);
	else
		for (t = 0; t < AGG_N && rc == TRPT_OK; t++)
			if (t == AGG_FAILURES_WEEK)
				rc = week_write(db, err);
			else if (t == AGG_TESTING_WEEK)
				rc = testing_week_write(db, err);
			else if (t != AGG_FAILURES ||
				 (rc = type_first(db, err)) == TRPT_OK)
				rc = agg_write(db, t, err);
	mem_reset(q, 0);
	return rc;
}

int
trpt__rollup_add(
    struct trpt_db *db, int64_t report, int sign, struct trpt_err *err)
{
	struct trpt__rollup_queue *q = db->rollup;
	struct qent *nv;
	size_t ncap;

	if (q == NULL && (q = queue_of(db)) == NULL)
		goto nomem;
	if (q->n == q->cap) {
		ncap = q->cap == 0 ? 64 : q->cap * 2;
		if ((nv = realloc(q->v, ncap * sizeof(*nv))) == NULL)
			goto nomem;
		q->v = nv;
		q->cap = ncap;
	}
	q->v[q->n].report = report;
	q->v[q->n].sign = sign;
	q->n++;
	return TRPT_OK;
nomem:
	return trpt_err_set(err, TRPT_ENOMEM,
	    "database %s: out of memory queueing a report for the rollups",
	    trpt_db_path(db));
}

void
trpt__rollup_discard(struct trpt_db *db)
{
	if (db->rollup == NULL)
		return;
	db->rollup->n = 0;
	mem_reset(db->rollup, 0);
}

void
trpt__rollup_free(struct trpt_db *db)
{
	if (db->rollup == NULL)
		return;
	mem_reset(db->rollup, 1);
	free(db->rollup->v);
	free(db->rollup);
	db->rollup = NULL;
}

static int
cmp_qent(const void *a, const void *b)
{
	const struct qent *x = a, *y = b;

	return x->report < y->report ? -1 : x->report > y->report;
}

static int
exec_cached(struct trpt_db *db, const char *sql, struct trpt_err *err)
{
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	return trpt_sql_run(st, err);
}

/*
 * The rollups from what rollup_pending holds; both temp tables emptied.
 * derive: compute the groups' weeks and first days again (not needed by
 * a rebuild, which computes all of them after).
 */
static int
apply(struct trpt_db *db, int negative, int derive, struct trpt_err *err)
{
	size_t i;
	int rc;

	rc = exec_cached(db,
	    trpt_sql_dialect(db) == TRPT_SQL_PG ? sql_groups_pg
						: sql_groups_sqlite,
	    err);
	for (i = 0; rc == TRPT_OK && i < sizeof(sql_apply) / sizeof(*sql_apply);
	     i++)
		rc = exec_cached(db, sql_apply[i], err);
	for (i = 0; rc == TRPT_OK && negative &&
		    i < sizeof(sql_prune_empty) / sizeof(*sql_prune_empty);
	     i++)
		rc = exec_cached(db, sql_prune_empty[i], err);
	for (i = 0; rc == TRPT_OK && derive &&
		    i < sizeof(sql_derive_groups) / sizeof(*sql_derive_groups);
	     i++)
		rc = exec_cached(db, sql_derive_groups[i], err);
	if (rc == TRPT_OK)
		rc = exec_cached(db, sql_clear_groups, err);
	if (rc == TRPT_OK)
		rc = exec_cached(db, sql_clear_pending, err);
	return rc;
}

static int
temp_tables(struct trpt_db *db, struct trpt_err *err)
{
	return trpt_sql_exec(
	    db, trpt_sql_dialect(db) == TRPT_SQL_PG ? ddl_pg : ddl_sqlite, err);
}

/*
 * The data version (migration 0019): one more in this writer's row, in
 * the transaction that changes the rollups.  On PostgreSQL writers share
 * 16 rows by process id, so that two of them rarely wait for each other's
 * commit on the row; SQLite has one writer at a time.
 */
static int
bump_version(struct trpt_db *db, struct trpt_err *err)
{
	static const char sql[] =
	    "INSERT INTO data_version (slot, n) VALUES (?, 1)"
	    " ON CONFLICT (slot) DO UPDATE SET n = data_version.n + 1";
	struct trpt_stmt *st;
	int rc;

	if ((rc = trpt_sql_cached(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(
	    st, 1, trpt_sql_dialect(db) == TRPT_SQL_PG ? getpid() % 16 : 0);
	return trpt_sql_run(st, err);
}

int
trpt__rollup_flush(struct trpt_db *db, struct trpt_err *err)
{
	struct trpt__rollup_queue *q = db->rollup;
	struct trpt_stmt *st;
	size_t i, j, n;
	int negative = 0, rc;

	if (q == NULL || (q->nmem == 0 && q->n == 0))
		return TRPT_OK;
	if ((rc = bump_version(db, err)) != TRPT_OK)
		goto out;
	if (q->nmem > 0 && (rc = mem_flush(db, err)) != TRPT_OK)
		goto out;
	if (q->n == 0)
		return TRPT_OK;
	/* One row per report, its signs summed (a report counted and taken
	 * out again in one transaction is no row at all). */
	qsort(q->v, q->n, sizeof(*q->v), cmp_qent);
	for (i = 0, n = 0; i < q->n; i = j) {
		int64_t sign = 0;

		for (j = i; j < q->n && q->v[j].report == q->v[i].report; j++)
			sign += q->v[j].sign;
		if (sign == 0)
			continue;
		q->v[n].report = q->v[i].report;
		q->v[n].sign = sign;
		negative |= sign < 0;
		n++;
	}
	q->n = 0;
	if (n == 0)
		return TRPT_OK;
	if ((rc = temp_tables(db, err)) != TRPT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((rc = trpt_sql_cached(db, sql_pending, &st, err)) !=
		    TRPT_OK)
			goto out;
		trpt_sql_bind_int(st, 1, q->v[i].report);
		trpt_sql_bind_int(st, 2, q->v[i].sign);
		if ((rc = trpt_sql_run(st, err)) != TRPT_OK)
			goto out;
	}
	rc = apply(db, negative, 1, err);
out:
	if (rc != TRPT_OK)
		trpt_err_prefix(err, "updating the rollups");
	return rc;
}

int
trpt_rollup_rebuild(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	trpt__rollup_discard(db);
	if ((rc = trpt_sql_exec(db, sql_clear_all, err)) == TRPT_OK &&
	    (rc = bump_version(db, err)) == TRPT_OK &&
	    (rc = temp_tables(db, err)) == TRPT_OK &&
	    (rc = exec_cached(db, sql_pending_all, err)) == TRPT_OK &&
	    (rc = apply(db, 0, 0, err)) == TRPT_OK)
		rc = trpt_sql_exec(db, sql_derive_all, err);
	if (rc != TRPT_OK)
		trpt_err_prefix(err, "rebuilding the rollups");
	return rc;
}

int
trpt_rollup_derive(struct trpt_db *db, struct trpt_err *err)
{
	int rc;

	if ((rc = trpt_sql_exec(db, sql_derive_all, err)) != TRPT_OK)
		trpt_err_prefix(err, "computing the weekly failure rollups");
	return rc;
}
