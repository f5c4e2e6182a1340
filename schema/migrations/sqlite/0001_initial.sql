-- Initial schema: every report, policy and failure detail, the bytes each
-- came from, and the inputs that were rejected (quarantine).
-- Timestamps are INTEGER seconds since the epoch, UTC.

-- Original inputs (a file, a mail, a POST body) as received, kept once per
-- content hash.  Several reports may come from one input.
CREATE TABLE raw_inputs (
	id INTEGER PRIMARY KEY,
	sha256 TEXT NOT NULL UNIQUE,
	bytes BLOB NOT NULL,
	size INTEGER NOT NULL,
	source_kind TEXT NOT NULL,
	source TEXT NOT NULL,
	message_id TEXT,
	report_domain TEXT,
	report_submitter TEXT,
	received_at INTEGER NOT NULL
) STRICT;

CREATE TABLE reports (
	id INTEGER PRIMARY KEY,
	organization_name TEXT NOT NULL,
	report_id TEXT NOT NULL,
	contact_info TEXT,
	begin_ts INTEGER NOT NULL,
	end_ts INTEGER NOT NULL,
	day INTEGER NOT NULL,            -- begin_ts / 86400: the UTC day counted
	raw_id INTEGER NOT NULL REFERENCES raw_inputs(id),
	part INTEGER NOT NULL,           -- 0: the input itself, N: MIME part N
	received_at INTEGER NOT NULL,
	seen_count INTEGER NOT NULL DEFAULT 1,  -- 1 + duplicates received
	last_seen_at INTEGER NOT NULL,
	total_successful INTEGER NOT NULL,
	total_failed INTEGER NOT NULL,
	UNIQUE (organization_name, report_id)
) STRICT;
CREATE INDEX reports_day ON reports(day);
-- Exports read reports in this order without sorting.
CREATE UNIQUE INDEX reports_begin
	ON reports(begin_ts, organization_name, report_id);

CREATE TABLE policies (
	id INTEGER PRIMARY KEY,
	report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
	idx INTEGER NOT NULL,            -- position in the report's policies[]
	day INTEGER NOT NULL,            -- copy of reports.day, for range scans
	policy_type TEXT NOT NULL,
	policy_domain TEXT NOT NULL,     -- '' when no source named the domain
	policy_strings TEXT,             -- JSON array of strings, NULL if absent
	mx_hosts TEXT,                   -- JSON array of strings, NULL if absent
	successful INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	details_failed INTEGER NOT NULL  -- sum of failure-details counts
) STRICT;
CREATE UNIQUE INDEX policies_report ON policies(report, idx);
CREATE INDEX policies_day_domain ON policies(day, policy_domain);

CREATE TABLE failures (
	id INTEGER PRIMARY KEY,
	policy INTEGER NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	result_type TEXT NOT NULL,
	sending_mta_ip TEXT,
	receiving_mx_hostname TEXT,
	receiving_mx_helo TEXT,
	receiving_ip TEXT,
	failed_session_count INTEGER NOT NULL,
	failure_reason_code TEXT,
	additional_information TEXT
) STRICT;
CREATE INDEX failures_policy ON failures(policy);

-- Leniencies applied while reading a report (no offset in a date, totals
-- that disagree with the details, unknown keys, ...).
CREATE TABLE warnings (
	id INTEGER PRIMARY KEY,
	report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
	message TEXT NOT NULL
) STRICT;
CREATE INDEX warnings_report ON warnings(report);

-- Rejected inputs, kept with their bytes so nothing is lost.  One row per
-- (content, part); receiving the same bad input again counts it.
CREATE TABLE quarantine (
	id INTEGER PRIMARY KEY,
	sha256 TEXT NOT NULL,
	part INTEGER NOT NULL,           -- 0: the input, N: MIME part N
	bytes BLOB NOT NULL,
	size INTEGER NOT NULL,
	source_kind TEXT NOT NULL,
	source TEXT NOT NULL,
	message_id TEXT,
	report_domain TEXT,
	report_submitter TEXT,
	filename TEXT,
	reason TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	seen_count INTEGER NOT NULL DEFAULT 1,
	UNIQUE (sha256, part)
) STRICT;
