"""Locust users for bench/load.py (which sets the LOAD_* environment variables below).

Reader: one page, back to back (no think time): LOAD_PAGE is one of READ_PAGES (the blog
with its cache, the same blog uncached under /uncached, Flask's tutorial blog on SQLite
under /sqlite, or the trivial route). Post pages are picked by LOAD_POPULARITY: "zipf"
(the default: a few posts get most views) or "uniform" (any post as likely).
Author: logs in once, then creates posts through the form back to back (LOAD_PAGE create
for the blog, sqlite-create for the tutorial blog); the POST is measured, not the
redirect that follows it.
Commenter: a visitor who opens a post, then posts comments at LOAD_COMMENT_RATE a second
(no token: the form is guarded by origin; it sends the Origin a browser would), each
followed, like a browser, by the redirect back to the post. Every comment carries a
unique token; the tokens of comments answered with a redirect are appended to
LOAD_COMMENT_LOG, so load.py can find lost or duplicated ones in Redis.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid

from locust import FastHttpUser, constant, constant_throughput, task

PAGE = os.environ.get("LOAD_PAGE", "home")
POSTS = int(os.environ.get("LOAD_POSTS", "10000"))
TAGS = int(os.environ.get("LOAD_TAGS", "50"))
TARGETS = [s for s in os.environ.get("LOAD_TARGETS", "").split(",") if s]
COMMENT_LOG = os.environ.get("LOAD_COMMENT_LOG", "")
MARKER = os.environ.get("LOAD_MARKER", "load-comment")
COMMENT_RATE = float(os.environ.get("LOAD_COMMENT_RATE", "1"))
COMMENTERS = int(os.environ.get("LOAD_COMMENTERS", "5"))

BODY = os.environ.get("LOAD_BODY", "")
POPULARITY = os.environ.get("LOAD_POPULARITY", "zipf")
# Zipf's law (s = 1): the post of rank r gets 1/r of the top post's views, the newest
# posts ranked first, as on the web at large; "uniform" makes every post as likely.
RANK_WEIGHTS = list(itertools.accumulate(1 / rank for rank in range(1, POSTS + 1)))


def pick_post() -> int:
    """Which post (0 the oldest) a reader opens; the same for the blog and SQLite."""
    if POPULARITY == "uniform":
        return random.randrange(POSTS)
    rank = random.choices(range(POSTS), cum_weights=RANK_WEIGHTS)[0]
    return POSTS - 1 - rank


def read_path(page: str) -> str:
    post = pick_post()
    paths = {
        "trivial": "/trivial/",
        "home": "/",
        "post": f"/posts/post-number-{post}",
        "tag": f"/tags/topic-{random.randrange(TAGS)}",
        "home-off": "/uncached/",
        "post-off": f"/uncached/posts/post-number-{post}",
        "tag-off": f"/uncached/tags/topic-{random.randrange(TAGS)}",
        "sqlite-home": "/sqlite/",
        "sqlite-post": f"/sqlite/post/{post + 1}",
    }
    if page not in paths:
        raise ValueError(f"unknown LOAD_PAGE {page!r}")
    return paths[page]


class Reader(FastHttpUser):
    wait_time = constant(0)

    @task
    def read(self) -> None:
        self.client.get(read_path(PAGE), name=PAGE)


class Author(FastHttpUser):
    """Logged in before the run (bench/load.py): its session cookie and CSRF token."""

    wait_time = constant(0)

    @task
    def create(self) -> None:
        title = f"Load post {uuid.uuid4().hex[:12]}"
        if PAGE == "sqlite-create":
            path, cookie = "/sqlite/create", os.environ["LOAD_SQLITE_COOKIE"]
            form = {"title": title, "body": BODY}
        else:
            path, cookie = "/posts/new", os.environ["LOAD_BLOG_COOKIE"]
            form = {
                "title": title,
                "body": BODY,
                "tags": "redis, load",
                "status": "published",
                "csrf_token": os.environ["LOAD_BLOG_TOKEN"],
            }
        with self.client.post(
            path,
            data=form,
            headers={"Cookie": cookie},
            name=PAGE,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"status {response.status_code}, expected 302")


class Commenter(FastHttpUser):
    fixed_count = COMMENTERS
    wait_time = constant_throughput(COMMENT_RATE)

    def on_start(self) -> None:
        self.client.get(f"/posts/{random.choice(TARGETS)}", name="comment form GET")

    @task
    def comment(self) -> None:
        slug = random.choice(TARGETS)
        token = uuid.uuid4().hex
        form = {"name": "Load tester", "body": f"{MARKER} {token}", "website": ""}
        with self.client.post(
            f"/posts/{slug}/comments",
            data=form,
            headers={"Origin": self.host},
            name="comment POST",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"status {response.status_code}, expected 302")
                return
            response.success()
            location = response.headers.get("Location", "")
        if COMMENT_LOG:
            with open(COMMENT_LOG, "a") as log:
                log.write(token + "\n")
        self.client.get(location.split("#")[0] or f"/posts/{slug}", name="comment redirect GET")
