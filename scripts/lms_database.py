"""Create the LMS database on a server if it is missing; print its URI. Usage: lms_database.py ADMIN_URI NAME"""

import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

admin_uri, name = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(admin_uri)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}", file=sys.stderr)
conn.close()
parts = urlsplit(admin_uri)
print(urlunsplit(parts._replace(path="/" + name)))
