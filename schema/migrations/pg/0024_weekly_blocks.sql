-- PostgreSQL spelling of schema/migrations/sqlite/0024_weekly_blocks.sql
-- (its comments say why): rollup_weeks replaces rollup_weekly, and the
-- trpt_weeks_* functions of schema/weeks.h, which the collector registers
-- on SQLite connections, are created here, with the same results.  A
-- cell is 17 bytes: its place (0-31), then successful and failed as
-- int8send writes them (big-endian two's complement).

CREATE TABLE rollup_weeks (
	domain TEXT COLLATE "C" NOT NULL,
	org TEXT COLLATE "C" NOT NULL,
	block BIGINT NOT NULL,
	cells BYTEA NOT NULL,
	PRIMARY KEY (domain, org, block)
);

CREATE FUNCTION trpt_weeks_int(v BYTEA, at INTEGER) RETURNS BIGINT
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT ('x' || encode(substring(v FROM at + 1 FOR 8), 'hex'))::bit(64)::bigint
$$;

CREATE FUNCTION trpt_weeks_cell(place BIGINT, s BIGINT, f BIGINT)
RETURNS BYTEA LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
	IF place < 0 OR place > 31 THEN
		RAISE EXCEPTION 'trpt_weeks_cell: place not 0-31';
	END IF;
	RETURN set_byte('\x00'::bytea, 0, place::integer) || int8send(s)
		|| int8send(f);
END;
$$;

-- The cells of v by place (1-32), NULL where none; malformed: an error.
CREATE FUNCTION trpt_weeks_read(v BYTEA, OUT s BIGINT[], OUT f BIGINT[])
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	i INTEGER;
	p INTEGER;
	prev INTEGER := -1;
BEGIN
	s := array_fill(NULL::bigint, ARRAY[32]);
	f := array_fill(NULL::bigint, ARRAY[32]);
	IF length(v) % 17 <> 0 OR length(v) > 544 THEN
		RAISE EXCEPTION 'trpt_weeks: malformed weekly cells';
	END IF;
	FOR i IN 0 .. length(v) / 17 - 1 LOOP
		p := get_byte(v, i * 17);
		IF p > 31 OR p <= prev THEN
			RAISE EXCEPTION 'trpt_weeks: malformed weekly cells';
		END IF;
		prev := p;
		s[p + 1] := trpt_weeks_int(v, i * 17 + 1);
		f[p + 1] := trpt_weeks_int(v, i * 17 + 9);
	END LOOP;
END;
$$;

CREATE FUNCTION trpt_weeks_write(s BIGINT[], f BIGINT[]) RETURNS BYTEA
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	r BYTEA := ''::bytea;
	p INTEGER;
BEGIN
	FOR p IN 0 .. 31 LOOP
		IF s[p + 1] IS NOT NULL THEN
			r := r || trpt_weeks_cell(p, s[p + 1], f[p + 1]);
		END IF;
	END LOOP;
	RETURN r;
END;
$$;

-- Sums stop at TRPT_MAX_ROLLUP_COUNT (2^40) as schema/rollup.c's ADD.
CREATE FUNCTION trpt_weeks_add(a BYTEA, b BYTEA) RETURNS BYTEA
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	xs BIGINT[];
	xf BIGINT[];
	ys BIGINT[];
	yf BIGINT[];
	p INTEGER;
BEGIN
	IF a IS NULL OR b IS NULL THEN
		RETURN coalesce(a, b);
	END IF;
	SELECT r.s, r.f INTO xs, xf FROM trpt_weeks_read(a) r;
	SELECT r.s, r.f INTO ys, yf FROM trpt_weeks_read(b) r;
	FOR p IN 1 .. 32 LOOP
		IF ys[p] IS NULL THEN
			CONTINUE;
		ELSIF xs[p] IS NULL THEN
			xs[p] := ys[p];
			xf[p] := yf[p];
		ELSE
			xs[p] := CASE WHEN ys[p] > 1099511627776 - xs[p]
				THEN 1099511627776 ELSE xs[p] + ys[p] END;
			xf[p] := CASE WHEN yf[p] > 1099511627776 - xf[p]
				THEN 1099511627776 ELSE xf[p] + yf[p] END;
		END IF;
	END LOOP;
	RETURN trpt_weeks_write(xs, xf);
END;
$$;

CREATE AGGREGATE trpt_weeks_agg(BYTEA) (
	SFUNC = trpt_weeks_add,
	STYPE = BYTEA
);

CREATE FUNCTION trpt_weeks_drop(a BYTEA, mask BIGINT) RETURNS BYTEA
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	xs BIGINT[];
	xf BIGINT[];
	p INTEGER;
BEGIN
	SELECT r.s, r.f INTO xs, xf FROM trpt_weeks_read(a) r;
	FOR p IN 0 .. 31 LOOP
		IF (mask >> p) & 1 = 1 THEN
			xs[p + 1] := NULL;
		END IF;
	END LOOP;
	RETURN trpt_weeks_write(xs, xf);
END;
$$;

CREATE FUNCTION trpt_weeks_sum(a BYTEA, mask BIGINT, which BIGINT)
RETURNS BIGINT LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	xs BIGINT[];
	xf BIGINT[];
	p INTEGER;
	t BIGINT := 0;
BEGIN
	SELECT r.s, r.f INTO xs, xf FROM trpt_weeks_read(a) r;
	FOR p IN 0 .. 31 LOOP
		IF xs[p + 1] IS NOT NULL AND (mask >> p) & 1 = 1 THEN
			t := t + CASE WHEN which = 0 THEN xs[p + 1]
				ELSE xf[p + 1] END;
		END IF;
	END LOOP;
	RETURN t;
END;
$$;

INSERT INTO rollup_weeks (domain, org, block, cells)
SELECT domain, org, week >> 5,
	trpt_weeks_agg(trpt_weeks_cell(week & 31, successful, failed))
FROM rollup_weekly GROUP BY domain, org, week >> 5;

DROP TABLE rollup_weekly;
