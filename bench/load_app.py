"""WSGI app for bench/load.py: the real blog and a trivial Flask route in one process.

    gunicorn bench.load_app:app --workers 4 --bind 127.0.0.1:8000

The blog (blog.create_app(), configured from the environment like `app.py`) answers every
path; /uncached/ is the same blog with its page cache and HTTP validators off; /sqlite/ is
Flask's tutorial blog on SQLite (bench/sqlite_blog.py, database LOAD_SQLITE_DB);
/trivial/ is a one-route Flask app that returns "ok". All run in the same gunicorn
workers, so the trivial route's throughput is the ceiling for this server, worker count,
machine and load generator, and every page is reported as a ratio to a real alternative.
"""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bench.sqlite_blog import create_app as create_sqlite_blog
from blog import create_app

TRIVIAL_PREFIX = "/trivial"
UNCACHED_PREFIX = "/uncached"
SQLITE_PREFIX = "/sqlite"


def trivial_app() -> Flask:
    trivial = Flask("trivial")

    @trivial.route("/")
    def ok() -> str:
        return "ok"

    return trivial


blog = create_app()
# The same blog, same Redis, with the visitors' page cache and HTTP validators off.
uncached = create_app({"PAGE_CACHE_SECONDS": 0, "HTTP_CACHE_SECONDS": 0})
mounts = {TRIVIAL_PREFIX: trivial_app(), UNCACHED_PREFIX: uncached}
if os.environ.get("LOAD_SQLITE_DB"):
    mounts[SQLITE_PREFIX] = create_sqlite_blog(
        os.environ["LOAD_SQLITE_DB"], os.environ["SECRET_KEY"]
    )
app = DispatcherMiddleware(blog, mounts)
