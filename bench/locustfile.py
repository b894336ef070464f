"""Locust users for bench/load.py (which sets the LOAD_* environment variables below).

Reader: one page, back to back (no think time): LOAD_PAGE is trivial, home, post or tag.
Commenter: a visitor who opens a post (for the CSRF token and the session cookie), then
posts comments at LOAD_COMMENT_RATE a second, each followed, like a browser, by the
redirect back to the post (which also shows and so clears the flash message). Every
comment carries a unique token; the tokens of comments answered with a redirect are
appended to LOAD_COMMENT_LOG, so load.py can find lost or duplicated ones in Redis.
"""

from __future__ import annotations

import os
import random
import re
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

CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


class Reader(FastHttpUser):
    wait_time = constant(0)

    @task
    def read(self) -> None:
        if PAGE == "trivial":
            self.client.get("/trivial/", name="trivial")
        elif PAGE == "home":
            self.client.get("/", name="home")
        elif PAGE == "post":
            self.client.get(f"/posts/post-number-{random.randrange(POSTS)}", name="post")
        elif PAGE == "tag":
            self.client.get(f"/tags/topic-{random.randrange(TAGS)}", name="tag")
        else:
            raise ValueError(f"unknown LOAD_PAGE {PAGE!r}")


class Commenter(FastHttpUser):
    fixed_count = COMMENTERS
    wait_time = constant_throughput(COMMENT_RATE)

    def on_start(self) -> None:
        self.token = ""
        slug = random.choice(TARGETS)
        with self.client.get(
            f"/posts/{slug}", name="comment form GET", catch_response=True
        ) as response:
            found = CSRF.search(response.text or "")
            if found:
                self.token = found.group(1)
            else:
                response.failure("no csrf_token in the post page")

    @task
    def comment(self) -> None:
        slug = random.choice(TARGETS)
        token = uuid.uuid4().hex
        form = {
            "name": "Load tester",
            "body": f"{MARKER} {token}",
            "csrf_token": self.token,
            "website": "",
        }
        with self.client.post(
            f"/posts/{slug}/comments",
            data=form,
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
