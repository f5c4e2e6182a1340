"""The database of a test: SQLite, or PostgreSQL under `meson test --setup pg`.

Every integration test that gives the binary a database (--db, db =) takes
it from new(); tests that read it back open it with connect().

- Without $TRPT_TEST_PG, new() returns a file path in the test's
  directory and connect() is sqlite3.connect.
- With $TRPT_TEST_PG (the conninfo URL of a test server started by
  tools/pgcluster.sh, e.g. postgresql://trpt@127.0.0.1:PORT/postgres),
  new() creates a database with a unique name on that server and returns
  its URL; the database is dropped when the test process ends.  connect()
  gives a connection that takes the same calls as the sqlite3 one
  (execute with '?' placeholders, fetchone, fetchall, commit, close).
  $TRPT_TEST_BACKEND=pg (set by the pg test setup) without $TRPT_TEST_PG
  is an error: the suite would otherwise run against SQLite unnoticed.

Tests that are about SQLite itself (its file locks, WAL, a read-only file,
a backup file) keep a plain path, with a comment saying why.
"""
import atexit
import os
import re
import sqlite3
import urllib.parse

PG_URL = os.environ.get("TRPT_TEST_PG", "")
if os.environ.get("TRPT_TEST_BACKEND") == "pg" and not PG_URL:
    raise SystemExit("testdb: the pg test setup needs TRPT_TEST_PG (the "
                     "conninfo printed by sh tools/pgcluster.sh start DIR)")
PG = bool(PG_URL)
BACKEND = "pg" if PG else "sqlite"

_created = []
_count = 0


def _admin():
    import psycopg2
    con = psycopg2.connect(PG_URL)
    con.autocommit = True
    return con


def _url_for(dbname):
    u = urllib.parse.urlsplit(PG_URL)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname,
                                    u.query, u.fragment))


def new(tmp, name="t"):
    """A fresh database for one test: a path in tmp, or a PostgreSQL URL."""
    global _count
    if not PG:
        return os.path.join(tmp, name + ".db")
    _count += 1
    dbname = "trpt_%s_%d_%d_%s" % (re.sub(r"[^a-z0-9]", "", name.lower())[:20],
                                   os.getpid(), _count,
                                   os.urandom(3).hex())
    con = _admin()
    try:
        con.cursor().execute('CREATE DATABASE "%s"' % dbname)
    finally:
        con.close()
    _created.append(dbname)
    return _url_for(dbname)


def drop(db):
    """Drops a database from new() now (SQLite: removes the file)."""
    if not PG:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(db + suffix)
            except FileNotFoundError:
                pass
        return
    dbname = urllib.parse.urlsplit(db).path.lstrip("/")
    if dbname not in _created:
        return
    con = _admin()
    try:
        con.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)'
                             % dbname)
    finally:
        con.close()
    _created.remove(dbname)


@atexit.register
def _drop_all():
    for dbname in list(_created):
        try:
            drop(_url_for(dbname))
        except Exception as e:  # the server may be gone; say so, go on
            print("# testdb: could not drop %s: %s" % (dbname, e))


def _qmark(sql):
    """'?' placeholders (outside quoted literals) to psycopg2's %s."""
    out = []
    quote = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _row(r):
    if r is None:
        return None
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)


class _Cursor:
    def __init__(self, cur):
        self._cur = cur
        self.rowcount = cur.rowcount
        self.description = cur.description

    def fetchone(self):
        if self._cur.description is None:
            return None
        return _row(self._cur.fetchone())

    def fetchall(self):
        if self._cur.description is None:
            return []
        return [_row(r) for r in self._cur.fetchall()]

    def __iter__(self):
        return iter(self.fetchall())


class _PgConnection:
    """What the tests use of sqlite3.Connection, over psycopg2 (autocommit:
    each statement sees what the collector committed)."""

    def __init__(self, url):
        import psycopg2
        self._con = psycopg2.connect(url)
        self._con.autocommit = True

    def execute(self, sql, params=None):
        cur = self._con.cursor()
        if params:
            cur.execute(_qmark(sql), tuple(params))
        else:
            cur.execute(sql)
        return _Cursor(cur)

    def executemany(self, sql, seq):
        cur = self._con.cursor()
        cur.executemany(_qmark(sql), [tuple(p) for p in seq])
        return _Cursor(cur)

    def commit(self):
        pass

    def close(self):
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def connect(db, **kw):
    """A connection to a database from new(): sqlite3.connect(db, **kw), or
    the PostgreSQL equivalent (kw ignored)."""
    if db.startswith("postgresql://") or db.startswith("postgres://"):
        return _PgConnection(db)
    return sqlite3.connect(db, **kw)


def count(db, table, where="", params=()):
    """SELECT count(*) FROM table [WHERE where]."""
    con = connect(db, timeout=30)
    try:
        sql = "SELECT count(*) FROM " + table
        if where:
            sql += " WHERE " + where
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()
