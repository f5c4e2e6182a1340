#!/usr/bin/env python3
"""Embeds the schema migrations into a C source file.

Usage: embed_sql.py OUTPUT.c FILE.sql...
Each FILE is schema/migrations/DIALECT/NNNN_name.sql, DIALECT being
"sqlite" or "pg" (the parent folder's name).  Each dialect's files must be
numbered 0001, 0002, ... without gaps or repeats, so a missing migration
fails the build instead of a user's database.  Both lists must have the
same length and version N the same name in both (one schema history, two
spellings of it): a migration written for one database only fails here.

It also writes the schema a new SQLite database is created with
(trpt_migrate_sqlite_schema): the SQLite migrations are run here, one
transaction each, in an in-memory database of the SQLite that Python links
(the system's, as the collector's), and the CREATE statements of what they
leave in sqlite_master are kept in its order.  Nothing else is kept: the
build fails if a migration leaves a row in a table or an internal object
(sqlite_sequence, sqlite_stat1) that a CREATE cannot make.
tests/unit/test_migrate.c proves the created schema identical to the
migrated one.
"""
import os
import re
import sqlite3
import sys

DIALECTS = ('sqlite', 'pg')


def c_bytes(text):
    """The text as a char array initializer: ISO C limits a string
    literal to 4095 characters (-Woverlength-strings), migrations are
    longer."""
    data = text.encode('utf-8') + b'\0'
    rows = []
    for i in range(0, len(data), 16):
        rows.append('\t' + ' '.join('%d,' % (b - 256 if b > 127 else b)
                                      for b in data[i:i + 16]))
    return '\n'.join(rows)


def sqlite_schema(migrations):
    """The statements that create what migrations (version, name, path)
    leave in a new SQLite database, in the order of sqlite_master."""
    con = sqlite3.connect(':memory:', isolation_level=None)
    # The collector's own SQL functions (schema/weeks.h), which a
    # migration may call: here on tables without rows, so never run.
    def unused(*args):
        raise sqlite3.OperationalError('called while embedding')

    class Unused:
        step = finalize = unused

    for fn, nargs in (('trpt_weeks_cell', 3), ('trpt_weeks_add', 2),
                      ('trpt_weeks_drop', 2), ('trpt_weeks_sum', 3)):
        con.create_function(fn, nargs, unused, deterministic=True)
    con.create_aggregate('trpt_weeks_agg', 1, Unused)
    for num, name, path in migrations:
        with open(path, encoding='utf-8') as src:
            sql = src.read()
        try:
            con.executescript('BEGIN IMMEDIATE;\n%s\n;\nPRAGMA user_version '
                              '= %d;\nCOMMIT;\n' % (sql, num))
        except sqlite3.Error as e:
            sys.exit('embed_sql: %s: %s' % (path, e))
    # Settings a CREATE does not carry: a migration that changes one
    # needs the generator taught to repeat it.
    fresh = sqlite3.connect(':memory:')
    for pragma in ('auto_vacuum', 'application_id', 'encoding',
                   'page_size'):
        got = con.execute('PRAGMA ' + pragma).fetchone()
        want = fresh.execute('PRAGMA ' + pragma).fetchone()
        if got != want:
            sys.exit('embed_sql: the migrations change PRAGMA %s (%s), '
                     'which the created schema would lack' % (pragma, got))
    fresh.close()
    rows = con.execute('SELECT type, name, sql FROM sqlite_master '
                       'ORDER BY rowid').fetchall()
    stmts = []
    for kind, name, sql in rows:
        if name.startswith('sqlite_'):
            if sql is None and kind == 'index':
                continue  # a UNIQUE or PRIMARY KEY's, made by its table
            sys.exit('embed_sql: the migrations leave %s %s, which a '
                     'CREATE cannot make' % (kind, name))
        if sql is None:
            sys.exit('embed_sql: %s %s has no SQL' % (kind, name))
        if kind == 'table':
            n = con.execute('SELECT count(*) FROM "%s"'
                            % name.replace('"', '""')).fetchone()[0]
            if n:
                sys.exit('embed_sql: the migrations leave %d rows in table '
                         '%s: the created schema would lack them' % (n, name))
        stmts.append(sql + ';\n')
    con.close()
    return ''.join(stmts)


def main():
    output, sources = sys.argv[1], sys.argv[2:]
    lists = {d: [] for d in DIALECTS}
    for path in sources:
        name = os.path.basename(path)
        dialect = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if dialect not in lists:
            sys.exit('embed_sql: %s: folder %s is not one of %s'
                     % (path, dialect, ', '.join(DIALECTS)))
        m = re.fullmatch(r'(\d{4})_([a-z0-9_]+)\.sql', name)
        if not m:
            sys.exit('embed_sql: bad migration name %s' % path)
        lists[dialect].append((int(m.group(1)), m.group(2), path))
    for dialect, migrations in lists.items():
        migrations.sort()
        for i, (num, name, _) in enumerate(migrations, 1):
            if num != i:
                sys.exit('embed_sql: %s migration %04d_%s.sql should be '
                         'number %04d' % (dialect, num, name, i))
    if not lists['sqlite']:
        sys.exit('embed_sql: no sqlite migrations')
    if len(lists['pg']) != len(lists['sqlite']):
        sys.exit('embed_sql: %d pg migrations for %d sqlite ones: write '
                 'each version for both' % (len(lists['pg']),
                                             len(lists['sqlite'])))
    for (num, name, _), (_, sname, _) in zip(lists['pg'], lists['sqlite']):
        if name != sname:
            sys.exit('embed_sql: pg migration %04d_%s.sql is %04d_%s.sql '
                     'for sqlite' % (num, name, num, sname))
    with open(output, 'w', encoding='utf-8') as f:
        f.write('/* Generated by schema/embed_sql.py; do not edit. */\n')
        f.write('#include "schema/migrate.h"\n\n')
        f.write('#include <stddef.h>\n\n')
        for dialect in DIALECTS:
            migrations = lists[dialect]
            for num, name, path in migrations:
                with open(path, encoding='utf-8') as src:
                    sql = src.read()
                f.write('static const char %s_%04d[] = {\n%s\n};\n\n'
                        % (dialect, num, c_bytes(sql)))
            f.write('const struct trpt_migration trpt_migrations_%s[] = {\n'
                    % dialect)
            for num, name, path in migrations:
                f.write('\t{ %d, "%s", %s_%04d },\n'
                        % (num, name, dialect, num))
            f.write('};\n\n')
            f.write('const int trpt_migrations_%s_count = %d;\n\n'
                    % (dialect, len(migrations)))
        f.write('/* What migrations 1 to %d leave in a new SQLite database. '
                '*/\n' % len(lists['sqlite']))
        f.write('static const char sqlite_schema[] = {\n%s\n};\n\n'
                % c_bytes(sqlite_schema(lists['sqlite'])))
        f.write('const char *const trpt_migrate_sqlite_schema = '
                'sqlite_schema;\n')
        f.write('const int trpt_migrate_sqlite_schema_version = %d;\n'
                % len(lists['sqlite']))


if __name__ == '__main__':
    main()
