"""Generated corpora and database queries shared by the crash-safety and
concurrency tests."""
import os
import subprocess

import testdb

GEN = os.environ.get("TRPT_GEN_CORPUS")


def generate(out, *args):
    """Runs bench/gen_corpus into out; returns the counts it prints."""
    r = subprocess.run([GEN] + list(args) + [out], check=True,
                       stdout=subprocess.PIPE, universal_newlines=True)
    return {k: int(v) for k, v in
            (line.split() for line in r.stdout.splitlines())}


def query(db, sql):
    con = testdb.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def one(db, sql):
    return query(db, sql)[0][0]
