"""Newsletter data: subscribers, post announcements with their exactly-once record, and
the mail sender's bookkeeping (pace, cool-downs, last error, comment notices).

Every state change is one Lua script or one MULTI/EXEC. docs/mail.md tells the story.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import redis

from .keys import Keys
from .scripts import Script

STATUSES = ("pending", "confirmed", "bounced", "unsubscribed")
HARD_BOUNCES_LIMIT = 3  # after this many 5xx replies an address gets no more mail

# One subscriber changes state: ARGV = address, target ("bounce" counts a hard bounce),
# now, the statuses it may come from ("none": not on the list), the bounce limit.
# Returns {before, after}.
_TRANSITION = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local now = tonumber(ARGV[3])
local rec = raw and cjson.decode(raw) or {s = 'none', c = now, u = now, b = 0}
local before = rec.s
if not string.find(' ' .. ARGV[4] .. ' ', ' ' .. before .. ' ', 1, true) then
  return {before, before}
end
if ARGV[2] == 'bounce' then
  rec.b = (rec.b or 0) + 1
  if rec.b >= tonumber(ARGV[5]) then rec.s = 'bounced'; rec.u = now end
else
  rec.s = ARGV[2]; rec.u = now
  if ARGV[2] == 'confirmed' then rec.b = 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return {before, rec.s}
"""


@dataclass(frozen=True)
class Subscriber:
    email: str
    status: str
    created_at: float
    updated_at: float
    bounces: int

    @classmethod
    def from_json(cls, email: str, raw: str) -> Subscriber:
        rec = json.loads(raw)
        return cls(email, rec["s"], float(rec["c"]), float(rec["u"]), int(rec.get("b", 0)))


class SubscriberStore:
    """All subscribers in one hash: address -> {"s": status, "c": created, "u": status
    time, "b": hard bounces}. One key, so every change is atomic and a backup reads the
    whole list at one moment."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._transition = Script(r, _TRANSITION)

    def _move(self, email: str, target: str, allowed: str, now: float) -> tuple[str, str]:
        before, after = self._transition(
            keys=[self.keys.subscribers], args=[email, target, now, allowed, HARD_BOUNCES_LIMIT]
        )
        return before, after

    def subscribe(self, email: str, now: float) -> bool:
        """Ask for a subscription; True when a confirmation mail is due (not if already
        confirmed). Unsubscribed and bounced addresses may come back, confirming again."""
        _, after = self._move(email, "pending", "none pending unsubscribed bounced", now)
        return after == "pending"

    def confirm(self, email: str, now: float) -> bool:
        _, after = self._move(email, "confirmed", "pending", now)
        return after == "confirmed"

    def unsubscribe(self, email: str, now: float) -> bool:
        """True if the address was on the list (idempotent: a second click is fine)."""
        before, _ = self._move(email, "unsubscribed", "pending confirmed bounced", now)
        return before != "none"

    def bounce(self, email: str, now: float) -> str:
        """Count a hard bounce; the status after it ("bounced" at the limit)."""
        return self._move(email, "bounce", "pending confirmed", now)[1]

    def remove(self, email: str) -> bool:
        return bool(self.r.hdel(self.keys.subscribers, email))

    def get(self, email: str) -> Subscriber | None:
        raw = cast("str | None", self.r.hget(self.keys.subscribers, email))
        return Subscriber.from_json(email, raw) if raw else None

    def is_confirmed(self, email: str) -> bool:
        found = self.get(email)
        return found is not None and found.status == "confirmed"

    def each(self, batch: int = 1000) -> Iterator[Subscriber]:
        """Every subscriber, streamed (HSCAN: memory does not grow with the list)."""
        for email, raw in self.r.hscan_iter(self.keys.subscribers, count=batch):
            yield Subscriber.from_json(cast(str, email), cast(str, raw))

    def counts(self) -> dict[str, int]:
        counted = Counter(s.status for s in self.each())
        return {status: counted.get(status, 0) for status in STATUSES}

    def confirmed_batch(self, cursor: int, size: int) -> tuple[int, list[str]]:
        """About `size` confirmed addresses from an HSCAN cursor, and the next cursor (0 at
        the end). A scan returns every address present from start to end at least once;
        a repeat is harmless (the exactly-once record skips it)."""
        found: list[str] = []
        while True:
            cursor, chunk = cast(
                "tuple[int, dict[str, str]]",
                self.r.hscan(self.keys.subscribers, cursor, count=size),
            )
            found += [e for e, raw in chunk.items() if json.loads(raw)["s"] == "confirmed"]
            if cursor == 0 or len(found) >= size:
                return cursor, found


@dataclass(frozen=True)
class Announcement:
    post_id: int
    state: str  # "scheduled", "sending", "sent" or "cancelled"
    at: float
    job: str
    total: int  # confirmed subscribers when sending began
    sent: int
    bounced: int


# Schedule (or move) a post's announcement unless it has begun: {1, old job} when set,
# {2, job} when already scheduled at that time, {0} when sending or sent.
_SCHEDULE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'sending' or state == 'sent' then return {0} end
local old = redis.call('HGET', KEYS[1], 'job') or ''
if state == 'scheduled' and tonumber(redis.call('HGET', KEYS[1], 'at')) == tonumber(ARGV[1]) then
  return {2, old}
end
redis.call('HSET', KEYS[1], 'post_id', ARGV[3], 'state', 'scheduled', 'at', ARGV[1], 'job', ARGV[2])
return {1, old}
"""

# The announcement job takes over: scheduled by this very job -> sending; a retry of the
# job that already began -> carry on. Anything else (moved, cancelled, done) -> no.
_START = """
local state = redis.call('HGET', KEYS[1], 'state')
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return 0 end
if state == 'scheduled' then
  redis.call('HSET', KEYS[1], 'state', 'sending', 'started_at', ARGV[2], 'total', ARGV[3])
  return 1
end
if state == 'sending' then return 1 end
return 0
"""

# The shared sending pace: reserve the next free slot; microseconds to wait for it.
_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', 600000)
return slot - now
"""


class AnnouncementStore:
    """`announcement:<post>` (state, time, job, counts) and `announcement:<post>:sent`,
    the exactly-once record: addresses whose SMTP server accepted the post (or refused it
    for good), checked before each send and written right after the server's reply."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._schedule = Script(r, _SCHEDULE)
        self._start = Script(r, _START)
        self._pace = Script(r, _PACE)

    def get(self, post_id: int) -> Announcement | None:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.keys.announcement(post_id))
        pipe.scard(self.keys.announcement_sent(post_id))
        fields, sent = pipe.execute()
        if not fields:
            return None
        bounced = int(fields.get("bounced", 0))
        return Announcement(
            post_id=post_id,
            state=fields["state"],
            at=float(fields.get("at", 0)),
            job=fields.get("job", ""),
            total=int(fields.get("total", 0)),
            sent=sent - bounced,
            bounced=bounced,
        )

    def schedule(self, post_id: int, at: float, job_id: str) -> tuple[str, str | None]:
        """("scheduled", job to cancel or None) | ("unchanged", None) | ("begun", None)."""
        reply = self._schedule(keys=[self.keys.announcement(post_id)], args=[at, job_id, post_id])
        if reply[0] == 0:
            return "begun", None
        if reply[0] == 2:
            return "unchanged", None
        return "scheduled", reply[1] or None

    def schedule_new(
        self, pipe: redis.client.Pipeline, post_id: int, at: float, job_id: str
    ) -> None:
        """Queue on `pipe` (RQ's, with the job: blog/queues.enqueue_mail) the record of a
        new post's announcement: what `schedule` writes, without its checks (a post just
        created has no announcement to have begun or to move)."""
        pipe.hset(
            self.keys.announcement(post_id),
            mapping={"post_id": post_id, "state": "scheduled", "at": at, "job": job_id},
        )

    def cancel(self, post_id: int) -> str | None:
        """Cancel an announcement that has not begun; its job id, to remove from RQ."""
        key = self.keys.announcement(post_id)

        def write(pipe: redis.client.Pipeline) -> str | None:
            state, job = cast("list[str | None]", pipe.hmget(key, "state", "job"))
            if state != "scheduled":
                return None
            pipe.multi()
            pipe.hset(key, "state", "cancelled")
            return job

        return cast("str | None", self.r.transaction(write, key, value_from_callable=True))  # type: ignore[arg-type]

    def start(self, post_id: int, job_id: str, total: int, now: float) -> bool:
        key = self.keys.announcement(post_id)
        return bool(self._start(keys=[key], args=[job_id, now, total]))

    def has_begun(self, post_id: int) -> bool:
        """Sending or sent: its batches, and their retries, may run."""
        return self.r.hget(self.keys.announcement(post_id), "state") in ("sending", "sent")

    def finish(self, post_id: int, now: float) -> None:
        key = self.keys.announcement(post_id)

        def write(pipe: redis.client.Pipeline) -> None:
            if pipe.hget(key, "state") == "sending":
                pipe.multi()
                pipe.hset(key, mapping={"state": "sent", "finished_at": now})

        self.r.transaction(write, key)

    def already_sent(self, post_id: int, emails: list[str]) -> list[bool]:
        if not emails:
            return []
        return [bool(x) for x in self.r.smismember(self.keys.announcement_sent(post_id), emails)]

    def before_send(self, post_id: int, email: str, per_second: int) -> tuple[bool, float]:
        """(already sent?, seconds to wait for the shared pace) in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.sismember(self.keys.announcement_sent(post_id), email)
        if per_second:
            self._pace(keys=[self.keys.mail_pace], args=[1_000_000 // per_second], client=pipe)
        replies = pipe.execute()
        wait = replies[1] / 1_000_000 if per_second else 0.0
        return bool(replies[0]), wait

    def record(self, post_id: int, email: str, bounced: bool = False) -> None:
        """This address is done with: accepted by its server, or refused for good (a
        5xx). Either way a retry must not try it again."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.sadd(self.keys.announcement_sent(post_id), email)
            if bounced:
                pipe.hincrby(self.keys.announcement(post_id), "bounced", 1)
            pipe.execute()


COMMENT_NOTICE_TTL = 7 * 24 * 3600
STALE_DUE_SECONDS = 3600  # a notice due this long ago never ran (lost job): plan a new one

# A comment arrived: when should its author's notice go? Never sooner than COOLDOWN after
# the last one; nil when one is already planned (this comment joins it).
_NOTICE_DUE = """
local now = tonumber(ARGV[1])
local due = tonumber(redis.call('HGET', KEYS[1], 'due') or '0')
if due > 0 and due > now - tonumber(ARGV[3]) then return false end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local at = math.max(now, last + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'due', tostring(at))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(at)
"""


class MailStore:
    """The sender's own bookkeeping (`mail:*`, never backed up)."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._notice_due = Script(r, _NOTICE_DUE)

    def cooldown(self, action: str, subject: str, seconds: int) -> bool:
        """True at most once per `seconds` for (action, subject)."""
        return bool(self.r.set(self.keys.mail_cooldown(action, subject), 1, nx=True, ex=seconds))

    def record_error(self, message: str, now: float) -> None:
        self.r.hset(self.keys.mail_error, mapping={"message": message, "at": now})

    def clear_error(self) -> None:
        self.r.delete(self.keys.mail_error)

    def last_error(self) -> dict[str, str]:
        return cast("dict[str, str]", self.r.hgetall(self.keys.mail_error))

    def comment_notice_due(self, post_id: int, now: float, cooldown: int) -> float | None:
        """When the notice for a new comment should go, or None if one is planned."""
        at = self._notice_due(
            keys=[self.keys.comment_notice(post_id)],
            args=[now, cooldown, STALE_DUE_SECONDS, COMMENT_NOTICE_TTL],
        )
        return float(at) if at else None

    def claim_comment_notice(self, post_id: int, now: float) -> float:
        """The notice job begins: later comments plan the next one (after the cool-down).
        Returns the time of the newest comment already notified."""
        key = self.keys.comment_notice(post_id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hget(key, "cursor")
            pipe.hdel(key, "due")
            pipe.hset(key, "last", now)
            pipe.expire(key, COMMENT_NOTICE_TTL)
            cursor, *_ = pipe.execute()
        return float(cursor or 0)

    def commit_comment_notice(self, post_id: int, cursor: float) -> None:
        self.r.hset(self.keys.comment_notice(post_id), "cursor", cursor)
