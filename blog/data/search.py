"""The search index: an inverted index on Redis sorted sets, and its queries.

One sorted set per term (`search:<gen>:term:<stem>`) holds the ids of the posts that
contain it, scored by the term's BM25F weight in that post (processing/search/ranking.py);
a query multiplies each term's set by the term's idf and intersects them (ZINTERSTORE
WEIGHTS), with `posts:published` (weight 0) so drafts and deleted posts drop out whatever
the index still says. Everything a query does runs in one Lua script: one round trip,
plus one pipeline for the posts of the page. docs/search.md has the whole design.

The index is derived data. This module reads posts for it and writes what
blog/search/service.py computed from them (with processing.search): one post's entries,
only if the post is still at the version read (so the job is idempotent and safe out of
order), or a whole new generation that queries switch to in one step.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import redis

from .keys import Keys
from .models import Post
from .reindex import scan_app_keys
from .scripts import Script

# Query plans (see docs/search.md): the threshold algorithm serves pages up to TOP_LIMIT
# deep when every term is in more than SMALL_SET posts, giving up after TOP_BUDGET posts
# read (or an eighth of the smallest set); its count stops at COUNT_LIMIT ("1,000+").
TOP_LIMIT = 200
SMALL_SET = 1000
COUNT_LIMIT = 1000
TOP_BUDGET = 5000
SUGGEST_MAX = 8
SUGGEST_SCAN = 200  # suggestion entries looked at per request, at most

# Batched indexing. Every post write puts the post's id in `search:pending` and, in the
# same script, sets `search:queued` if it was not set: only the write that set it enqueues
# a drain job (jobs.search.drain_pending), so a burst of writes costs one waiting job.
# The drain deletes the flag first, then takes ids until the set is empty. Why no id is
# ever left without a job that takes it:
# * a write adds its id, then tries the flag (one script: in that order, at once). If the
#   flag was free, the write enqueues a drain, which will see the id. If the flag was
#   set, the job whose writer set it has not deleted it yet, so it has not started
#   draining: it deletes the flag after this id went in, and drains until the set is
#   empty, this id included.
# * a drain that has deleted the flag may already be past an id written now: that write
#   found the flag free and enqueued the next drain. At most one job waits, plus the one
#   running.
# * a job lost before it ran (an enqueue that failed after the script, a job deleted in
#   the dashboard) leaves the flag set: it expires after DRAIN_FLAG_SECONDS, and the next
#   write enqueues a drain that takes every pending id, the old ones too. A job waiting
#   longer than that (workers down or busy) lets the next write enqueue a second one.
# * a drain moves the ids it takes into its own `search:draining:<job id>` before
#   indexing them and deletes that set after: a worker killed mid-drain leaves them
#   there, and RQ's retry of the job (same id) puts them back in the pending set first.
DRAIN_FLAG_SECONDS = 60
DRAIN_BATCH = 100

# mark_pending(pending, queued, id, seconds): 1 if the caller must enqueue a drain job.
MARK_PENDING_LUA = """
local function mark_pending(pending, queued, id, seconds)
  redis.call('SADD', pending, id)
  if redis.call('SET', queued, '1', 'NX', 'EX', seconds) then return 1 end
  return 0
end
"""

# KEYS: search:pending, search:queued; ARGV: seconds, post ids.
_MARK = (
    MARK_PENDING_LUA
    + """
local due = 0
for i = 2, #ARGV do due = math.max(due, mark_pending(KEYS[1], KEYS[2], ARGV[i], ARGV[1])) end
return due
"""
)

# Give a drain job's taken ids back to the pending set: when it starts (what an earlier,
# killed try took; ARGV[1] = 1: the flag goes too, so writes from now on enqueue the next
# drain), or when it fails (ARGV[1] = 0: a waiting drain's flag stays).
# KEYS: search:queued, search:pending, search:draining:<job>.
_DRAIN_START = """
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
local left = redis.call('SCARD', KEYS[3])
if left > 0 then redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[3]) end
redis.call('DEL', KEYS[3])
return left
"""

# Forget the job's last batch (indexed by now) and take up to ARGV[1] pending ids into
# its own set. KEYS: search:pending, search:draining:<job>.
_DRAIN_TAKE = """
redis.call('DEL', KEYS[2])
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
if #ids > 0 then redis.call('SADD', KEYS[2], unpack(ids)) end
return ids
"""

# Lua helpers shared by the scripts: which generations a write goes to, and how a
# generation's keys are spelled (ARGV[1..6] = Keys.search_layout()).
_LAYOUT = """
local HEAD, TERM, DOC, META = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local SUGGEST, TAGCOUNT = ARGV[5], ARGV[6]
"""

# Write (or remove) one post's entries in the generations that are live: the current one
# and the one a reindex is building. KEYS: generation, building, post:<id>.
# ARGV[7..]: post id, version (the post's updated_at when it was read), mode
# ("index"|"remove"), only this generation ("" = live ones), stream, "title tags body"
# lengths, title suggestion entries and tag suggestion entries ("\n"-joined), then
# term, weight pairs.
_APPLY = (
    _LAYOUT
    + """
local id, version, mode, only = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local status = redis.call('HGET', KEYS[3], 'status')
if mode == 'index' then
  if not status or status == 'draft' or redis.call('HGET', KEYS[3], 'updated_at') ~= version then
    return 'stale'
  end
elseif status and status ~= 'draft' then
  return 'stale'  -- published again since the job read it: a newer job indexes it
end

local gens = {}
if only ~= '' then
  if redis.call('GET', KEYS[2]) ~= only then return 'stale' end
  gens = {only}
else
  local current = redis.call('GET', KEYS[1]) or '0'
  gens = {current}
  local building = redis.call('GET', KEYS[2])
  if building and building ~= current then gens[2] = building end
end

local new_terms = {}
for i = 15, #ARGV, 2 do new_terms[ARGV[i]] = ARGV[i + 1] end

local function lengths(text)
  local t, g, b = string.match(text or '0 0 0', '(%d+) (%d+) (%d+)')
  return tonumber(t), tonumber(g), tonumber(b)
end

local function apply(gen)
  local space = HEAD .. gen
  local doc, meta = space .. DOC .. id, space .. META
  local suggest, tagcount = space .. SUGGEST, space .. TAGCOUNT
  local old = redis.call('HMGET', doc, 'stream', 'lengths', 'suggest', 'tags')
  if old[1] then
    local seen = {['_'] = true, ['|'] = true}
    for term in string.gmatch(old[1], '%S+') do
      if not seen[term] and (mode ~= 'index' or not new_terms[term]) then
        redis.call('ZREM', space .. TERM .. term, id)
      end
      seen[term] = true
    end
    local t, g, b = lengths(old[2])  -- (0 - x: Lua prints -x as "-0" when x is 0)
    redis.call('HINCRBY', meta, 'docs', -1)
    redis.call('HINCRBY', meta, 'title', 0 - t)
    redis.call('HINCRBY', meta, 'tags', 0 - g)
    redis.call('HINCRBY', meta, 'body', 0 - b)
    for entry in string.gmatch(old[3] or '', '[^\\n]+') do redis.call('ZREM', suggest, entry) end
    for entry in string.gmatch(old[4] or '', '[^\\n]+') do
      if redis.call('HINCRBY', tagcount, entry, -1) <= 0 then
        redis.call('HDEL', tagcount, entry)
        redis.call('ZREM', suggest, entry)
      end
    end
    redis.call('DEL', doc)
  end
  if mode ~= 'index' then return end
  for term, weight in pairs(new_terms) do redis.call('ZADD', space .. TERM .. term, weight, id) end
  redis.call('HSET', doc, 'stream', ARGV[11], 'lengths', ARGV[12], 'suggest', ARGV[13],
             'tags', ARGV[14], 'version', version)
  local t, g, b = lengths(ARGV[12])
  redis.call('HINCRBY', meta, 'docs', 1)
  redis.call('HINCRBY', meta, 'title', t)
  redis.call('HINCRBY', meta, 'tags', g)
  redis.call('HINCRBY', meta, 'body', b)
  for entry in string.gmatch(ARGV[13], '[^\\n]+') do redis.call('ZADD', suggest, 0, entry) end
  for entry in string.gmatch(ARGV[14], '[^\\n]+') do
    if redis.call('HINCRBY', tagcount, entry, 1) == 1 then redis.call('ZADD', suggest, 0, entry) end
  end
end

for _, gen in ipairs(gens) do apply(gen) end
return mode == 'index' and 'indexed' or 'removed'
"""
)

# One search, whole. KEYS: generation, posts:published, scratch, then the tag:<name> sets
# to keep, then those to leave out. ARGV[7..]: now, offset, count, then four lists each
# preceded by its length: terms, phrases, excluded terms, excluded phrases; then the
# number of kept tags and the smallest term set worth the threshold algorithm.
# Returns {total, {id, score, id, score, ...}, 1 if total is a lower bound else 0}.
_QUERY = (
    _LAYOUT
    + f"""
local TOP_LIMIT, COUNT_LIMIT = {TOP_LIMIT}, {COUNT_LIMIT}
local CHUNK, BUDGET = 64, {TOP_BUDGET}
"""
    + """
local function in_all(sets, filters, id)
  for _, key in ipairs(sets) do
    if not redis.call('ZSCORE', key, id) then return false end
  end
  for _, key in ipairs(filters) do
    if not redis.call('ZSCORE', key, id) then return false end
  end
  return true
end

-- Fagin's threshold algorithm: read each term's set from its best weight down, one post
-- per set per round; score every new post fully (ZSCORE in the other sets); stop when the
-- need-th best score beats what an unseen post could still reach (the sum of the weights
-- at the read positions), or when a set runs out (every match has then been seen).
-- Returns nil past `budget` posts read: the caller falls back to ZINTERSTORE.
local function top_k(sets, weights, sizes, filters, published, now, need, budget)
  local n, pos, buf, at, frontier, order = #sets, {}, {}, {}, {}, {}
  for t = 1, n do order[t] = t end
  table.sort(order, function(a, b) return sizes[a] < sizes[b] end)
  for t = 1, n do pos[t], buf[t], at[t] = 0, {}, 1 end
  local seen, top, steps = {}, {}, 0
  while true do
    for t = 1, n do
      if at[t] > #buf[t] then
        buf[t] = redis.call('ZREVRANGE', sets[t], pos[t], pos[t] + CHUNK - 1, 'WITHSCORES')
        pos[t], at[t] = pos[t] + CHUNK, 1
        if #buf[t] == 0 then return top end
      end
      local id, w = buf[t][at[t]], tonumber(buf[t][at[t] + 1])
      at[t], frontier[t] = at[t] + 2, w
      if not seen[id] then
        seen[id], steps = true, steps + 1
        -- Summed in the order ZINTERSTORE sums (smallest set first), so both plans give
        -- the same floating-point score.
        local score = 0
        for _, u in ipairs(order) do
          local value = (u == t) and w or tonumber(redis.call('ZSCORE', sets[u], id))
          if not value then score = nil break end
          score = score + weights[u] * value
        end
        if score and in_all({}, filters, id) then
          local published_at = redis.call('ZSCORE', published, id)
          if published_at and tonumber(published_at) <= now then
            local r = #top + 1
            while r > 1 and (top[r - 1][2] < score
                             or (top[r - 1][2] == score and top[r - 1][1] < id)) do
              top[r] = top[r - 1]
              r = r - 1
            end
            top[r] = {id, score}
            top[need + 1] = nil
          end
        end
      end
    end
    local threshold = 0
    for t = 1, n do threshold = threshold + weights[t] * frontier[t] end
    -- (One set is read in final order, ties by member too: reaching the score is enough.)
    if #top >= need and (top[need][2] > threshold or (n == 1 and top[need][2] >= threshold)) then
      return top
    end
    if steps > budget then return nil end
  end
end

local now, offset, count = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local i = 10
local function list()
  local n, out = tonumber(ARGV[i]), {}
  for j = 1, n do out[j] = ARGV[i + j] end
  i = i + n + 1
  return out
end
local terms, phrases, ex_terms, ex_phrases = list(), list(), list(), list()
local kept_tags, small_set = tonumber(ARGV[i]), tonumber(ARGV[i + 1])

local space = HEAD .. (redis.call('GET', KEYS[1]) or '0')
local documents = tonumber(redis.call('HGET', space .. META, 'docs') or '0')
local sets, weights, sizes, smallest = {}, {}, {}, math.huge
for _, term in ipairs(terms) do
  local key = space .. TERM .. term
  local df = redis.call('ZCARD', key)
  if df == 0 then return {0, {}, 0} end
  sets[#sets + 1] = key
  sizes[#sizes + 1] = df
  smallest = math.min(smallest, df)
  -- idf: the twin of processing.search.ranking.idf
  weights[#weights + 1] = math.log(1 + (documents - df + 0.5) / (df + 0.5))
end

-- Fast path for plain words (and kept tags) on a first page: the best `need` posts by
-- the threshold algorithm over the term sets read best weight first, and a count that
-- stops at COUNT_LIMIT, so nothing as large as the matches is ever built.
local need = offset + count
if #terms > 0 and #phrases + #ex_terms + #ex_phrases == 0 and #KEYS == 3 + kept_tags
   and need <= TOP_LIMIT and smallest > small_set then
  local filters = {}
  for t = 1, kept_tags do filters[t] = KEYS[3 + t] end
  -- Past about an eighth of the smallest set, ZINTERSTORE (in C) is cheaper.
  local budget = math.min(BUDGET, smallest / 8)
  local top = top_k(sets, weights, sizes, filters, KEYS[2], tonumber(now), need, budget)
  if top then
    local all = {'ZINTERCARD', #sets + #filters + 1}
    for _, key in ipairs(sets) do all[#all + 1] = key end
    for _, key in ipairs(filters) do all[#all + 1] = key end
    all[#all + 1] = KEYS[2]
    all[#all + 1] = 'LIMIT'
    all[#all + 1] = COUNT_LIMIT
    local total = redis.call(unpack(all))
    local capped = total >= COUNT_LIMIT and 1 or 0
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
      if in_all(sets, filters, id) then total = total - 1 end  -- scheduled, not yet visible
    end
    local page = {}
    for r = offset + 1, math.min(need, #top) do
      page[#page + 1] = top[r][1]
      page[#page + 1] = string.format('%.17g', top[r][2])
    end
    return {total, page, capped}
  end
end

for t = 1, kept_tags do
  sets[#sets + 1] = KEYS[3 + t]
  -- Only tags asked for: newest first (a tag set is scored by publish time).
  weights[#weights + 1] = (#terms == 0 and t == 1) and 1 or 0
end
sets[#sets + 1] = KEYS[2]
weights[#weights + 1] = 0

local scratch = KEYS[3]
local call = {'ZINTERSTORE', scratch, #sets}
for _, key in ipairs(sets) do call[#call + 1] = key end
call[#call + 1] = 'WEIGHTS'
for _, weight in ipairs(weights) do call[#call + 1] = weight end
redis.call(unpack(call))
redis.call('PEXPIRE', scratch, 60000)  -- gone even if this script fails below

local function remove(ids)
  for j = 1, #ids, 1000 do
    redis.call('ZREM', scratch, unpack(ids, j, math.min(j + 999, #ids)))
  end
end
-- Scheduled posts whose time has not come.
remove(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf'))

local drop = {scratch}
for _, term in ipairs(ex_terms) do drop[#drop + 1] = space .. TERM .. term end
for k = 4 + kept_tags, #KEYS do drop[#drop + 1] = KEYS[k] end
if #drop > 1 and redis.call('ZCARD', scratch) > 0 then
  redis.call('ZDIFFSTORE', scratch, #drop, unpack(drop))
end

if #phrases + #ex_phrases > 0 then
  local misses = {}
  for _, id in ipairs(redis.call('ZRANGE', scratch, 0, -1)) do
    local stream = ' ' .. (redis.call('HGET', space .. DOC .. id, 'stream') or '') .. ' '
    local ok = true
    for _, p in ipairs(phrases) do
      if not string.find(stream, p, 1, true) then ok = false break end
    end
    for _, p in ipairs(ex_phrases) do
      if ok and string.find(stream, p, 1, true) then ok = false end
    end
    if not ok then misses[#misses + 1] = id end
  end
  remove(misses)
end

local total = redis.call('ZCARD', scratch)
local page = redis.call('ZREVRANGE', scratch, offset, offset + count - 1, 'WITHSCORES')
redis.call('DEL', scratch)
return {total, page, 0}
"""
)

# Suggestions: entries starting with the prefix, kept when their post or tag is visible.
# KEYS: generation, posts:published. ARGV[7..]: folded prefix, now, how many, how many
# entries to look at, then the heads of post:<id> and tag:<name> keys.
_SUGGEST = (
    _LAYOUT
    + """
local prefix, now, wanted, scan = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local post_head, tag_head = ARGV[11], ARGV[12]
local space = HEAD .. (redis.call('GET', KEYS[1]) or '0')
local entries = redis.call('ZRANGEBYLEX', space .. SUGGEST, '[' .. prefix, '[' .. prefix .. '\\255',
                           'LIMIT', 0, scan)
local out, seen = {}, {}
for _, entry in ipairs(entries) do
  local kind, ref = string.match(entry, '\\31(%a)\\31(.*)$')
  if kind and not seen[kind .. ref] then
    seen[kind .. ref] = true
    if kind == 'p' then
      local published = redis.call('ZSCORE', KEYS[2], ref)
      if published and tonumber(published) <= now then
        local post = redis.call('HMGET', post_head .. ref, 'title', 'slug')
        if post[1] then
          out[#out + 1] = 'post'
          out[#out + 1] = post[1]
          out[#out + 1] = post[2]
        end
      end
    elseif redis.call('ZCOUNT', tag_head .. ref, '-inf', now) > 0 then
      out[#out + 1] = 'tag'
      out[#out + 1] = ref
      out[#out + 1] = ref
    end
    if #out >= 3 * wanted then break end
  end
end
return out
"""
)

_SWAP = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""


@dataclass(frozen=True)
class Hit:
    post: Post
    score: float


@dataclass(frozen=True)
class SearchResults:
    hits: list[Hit]
    total: int
    number: int
    per_page: int
    capped: bool = False  # there are at least `total` matches (counting stopped there)

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number * self.per_page < self.total


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "post" or "tag"
    label: str  # the title or the tag
    ref: str  # the slug or the tag


@dataclass(frozen=True)
class IndexSource:
    """What the index is built from: one visible (published or scheduled) post."""

    post_id: int
    version: str  # the post's updated_at, as stored: a write lands only at this version
    title: str
    tags: list[str]
    html: str


@dataclass(frozen=True)
class IndexStats:
    """Posts in the live index and their summed title, tags and body lengths."""

    documents: int
    totals: tuple[int, int, int]


class IndexEntry(Protocol):
    """A post as the index stores it (processing.search.IndexEntry)."""

    @property
    def stream(self) -> str: ...
    @property
    def lengths(self) -> tuple[int, int, int]: ...
    @property
    def weights(self) -> Mapping[str, int]: ...
    @property
    def title_suggestions(self) -> str: ...
    @property
    def tag_suggestions(self) -> str: ...


class ParsedQuery(Protocol):
    """A query as processing.search.parse_query returns it."""

    @property
    def terms(self) -> list[str]: ...
    @property
    def phrases(self) -> list[str]: ...
    @property
    def excluded_terms(self) -> list[str]: ...
    @property
    def excluded_phrases(self) -> list[str]: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def excluded_tags(self) -> list[str]: ...


class SearchIndex:
    """The index's keys: writes of one post or of a whole new generation, and queries.
    The analysis is not here: blog/search/service.py reads with this, analyses with
    processing.search and writes back."""

    def __init__(self, r: redis.Redis, keys: Keys, small_set: int = SMALL_SET) -> None:
        self.r = r
        self.keys = keys
        self.small_set = small_set  # tests lower it to run the threshold algorithm
        self._apply = Script(r, _APPLY)
        self._query = Script(r, _QUERY)
        self._suggest = Script(r, _SUGGEST)
        self._swap = Script(r, _SWAP)
        self._mark = Script(r, _MARK)
        self._drain_start = Script(r, _DRAIN_START)
        self._drain_take = Script(r, _DRAIN_TAKE)

    # ---- writes --------------------------------------------------------------------

    def read(self, post_id: int) -> tuple[IndexSource | None, IndexStats]:
        """A post as the index needs it (None: deleted or a draft), and the live
        index's statistics; one round trip, then one for the statistics."""
        pipe = self.r.pipeline(transaction=False)
        self._read_post(pipe, post_id)
        pipe.get(self.keys.search_generation)
        fields, tags, generation = pipe.execute()
        meta = cast(
            "list[str | None]",
            self.r.hmget(
                self.keys.search_meta(int(generation or 0)), "docs", "title", "tags", "body"
            ),
        )
        documents, title, tag_length, body = (int(v or 0) for v in meta)
        return _source(post_id, fields, tags), IndexStats(documents, (title, tag_length, body))

    def read_many(self, ids: list[int]) -> list[IndexSource]:
        """The visible posts among `ids`; one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for post_id in ids:
            self._read_post(pipe, post_id)
        replies = pipe.execute()
        found = (_source(post_id, *replies[2 * i : 2 * i + 2]) for i, post_id in enumerate(ids))
        return [source for source in found if source is not None]

    def _read_post(self, pipe: redis.client.Pipeline, post_id: int) -> None:
        pipe.hmget(self.keys.post(post_id), "title", "html", "status", "updated_at")
        pipe.smembers(self.keys.post_tags(post_id))

    def write(self, source: IndexSource, entry: IndexEntry) -> str:
        """Replace the post's entries in the live generations: "indexed", or "stale" when
        the post changed since `source` was read (the job of that change does it)."""
        return cast(str, self._apply(*self._apply_call(source.post_id, source, entry)))

    def remove(self, post_id: int) -> str:
        """Drop a deleted post or a draft: "removed", or "stale" if it is visible again."""
        return cast(str, self._apply(*self._apply_call(post_id, None)))

    def _apply_call(
        self,
        post_id: int,
        source: IndexSource | None,
        entry: IndexEntry | None = None,
        only: str = "",
    ) -> tuple[list, list]:
        """KEYS and ARGV of the index script: index `entry`, or remove the post (None)."""
        keys = [self.keys.search_generation, self.keys.search_building, self.keys.post(post_id)]
        args: list = [*self.keys.search_layout(), post_id, source.version if source else ""]
        if source is None or entry is None:
            return keys, [*args, "remove", only, "", "0 0 0", "", ""]
        lengths = " ".join(str(n) for n in entry.lengths)
        args += ["index", only, entry.stream, lengths]
        args += [entry.title_suggestions, entry.tag_suggestions]
        for term, weight in entry.weights.items():
            args += [term, weight]
        return keys, args

    # Batched indexing (see DRAIN_FLAG_SECONDS): the post scripts mark their own writes.

    def mark_pending(self, post_ids: Sequence[int]) -> bool:
        """Put posts in the pending set; True when the caller must enqueue a drain job
        (no drain was waiting). One round trip."""
        keys = [self.keys.search_pending, self.keys.search_queued]
        return bool(self._mark(keys=keys, args=[DRAIN_FLAG_SECONDS, *post_ids]))

    def start_drain(self, job_id: str) -> int:
        """Clear the flag and give back what an earlier try of this job left; returns
        how many ids it gave back."""
        return self._give_back(job_id, clear_flag=True)

    def give_back(self, job_id: str) -> int:
        """A failing drain's taken ids, back to the pending set."""
        return self._give_back(job_id, clear_flag=False)

    def _give_back(self, job_id: str, clear_flag: bool) -> int:
        keys = [
            self.keys.search_queued,
            self.keys.search_pending,
            self.keys.search_draining(job_id),
        ]
        return int(cast(int, self._drain_start(keys=keys, args=[int(clear_flag)])))

    def take_pending(self, job_id: str, count: int = DRAIN_BATCH) -> list[int]:
        """Up to `count` pending ids, moved into the job's own set; the ids it took the
        time before are indexed by then, and forgotten (none left: the set is gone)."""
        keys = [self.keys.search_pending, self.keys.search_draining(job_id)]
        return sorted(int(i) for i in cast("list[str]", self._drain_take(keys=keys, args=[count])))

    def pending_count(self) -> int:
        return int(self.r.scard(self.keys.search_pending))

    # A rebuild: start_rebuild(), write_many() batch by batch, finish_rebuild().

    def start_rebuild(self) -> tuple[str, list[int]]:
        """A new generation, marked as being built (jobs write to it too from now on),
        and the ids of the posts to index into it (published and scheduled)."""
        generation = str(self.r.incr(self.keys.search_generations))
        self.r.set(self.keys.search_building, generation)
        self._drop_generations(keep={generation, self._current()})  # an earlier, broken run
        ids = cast("list[str]", self.r.zrange(self.keys.published, 0, -1))
        return generation, [int(i) for i in ids]

    def write_many(self, entries: Sequence[tuple[IndexSource, IndexEntry]], generation: str) -> int:
        """Write posts into the generation being built; one round trip. Returns how many
        landed (a post changed since it was read is left to its job)."""
        pipe = self.r.pipeline(transaction=False)
        for source, entry in entries:
            self._apply(*self._apply_call(source.post_id, source, entry, generation), client=pipe)
        return sum(1 for reply in pipe.execute() if reply == "indexed")

    def finish_rebuild(self, generation: str) -> int:
        """Switch queries to the new generation in one step, then delete the old one's
        keys (returns how many)."""
        keys = [self.keys.search_generation, self.keys.search_building]
        if not self._swap(keys=keys, args=[generation]):
            raise RuntimeError("another reindex started meanwhile; it will finish the job")
        return self._drop_generations(keep={generation})

    def _current(self) -> str:
        return cast("str | None", self.r.get(self.keys.search_generation)) or "0"

    def _drop_generations(self, keep: set[str]) -> int:
        """Delete every generation's keys except those in `keep` (and one being built)."""
        keep = keep | {cast("str | None", self.r.get(self.keys.search_building)) or ""}
        head = self.keys.search_layout()[0]
        doomed, deleted = [], 0
        for name in scan_app_keys(self.r, head):
            generation = name.split(":", 1)[0]
            if generation.isdigit() and generation not in keep:
                doomed.append(head + name)
            if len(doomed) >= 500:
                deleted += self.r.unlink(*doomed)
                doomed = []
        if doomed:
            deleted += self.r.unlink(*doomed)
        return deleted

    # ---- reads ---------------------------------------------------------------------

    def search(
        self,
        query: ParsedQuery,
        number: int,
        per_page: int,
        load: Callable[[list[int]], list[Post]],
    ) -> SearchResults:
        """One page of visible matching posts, best first: 1 round trip for the ids, and
        `load` (one pipeline) for the posts."""
        now = time.time()
        tag_keys = [self.keys.tag(t) for t in [*query.tags, *query.excluded_tags]]
        keys = [
            self.keys.search_generation,
            self.keys.published,
            self.keys.search_scratch(secrets.token_hex(8)),
            *tag_keys,
        ]
        args: list = [*self.keys.search_layout(), repr(now), (number - 1) * per_page, per_page]
        for part in (query.terms, query.phrases, query.excluded_terms, query.excluded_phrases):
            args += [len(part), *part]
        args += [len(query.tags), self.small_set]
        total, flat, capped = self._query(keys=keys, args=args)
        scores = {int(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}
        posts = load(list(scores))
        hits = [Hit(p, scores[p.id]) for p in posts if p.is_visible(now)]
        return SearchResults(
            hits=hits, total=int(total), number=number, per_page=per_page, capped=bool(capped)
        )

    def suggest(self, prefix: str, limit: int = SUGGEST_MAX) -> list[Suggestion]:
        """Visible posts whose title, and tags that, have words starting with `prefix`
        (folded words, space-separated); tags first. One round trip."""
        if not prefix:
            return []
        flat = self._suggest(
            keys=[self.keys.search_generation, self.keys.published],
            args=[
                *self.keys.search_layout(),
                prefix,
                repr(time.time()),
                limit,
                SUGGEST_SCAN,
                self.keys.post(""),  # type: ignore[arg-type]  # the head of post:<id> keys
                self.keys.tag(""),
            ],
        )
        found = [Suggestion(*flat[i : i + 3]) for i in range(0, len(flat), 3)]
        return sorted(found, key=lambda s: s.kind != "tag")[:limit]


def _source(post_id: int, fields: list, tags: set[str]) -> IndexSource | None:
    title, html, status, updated_at = fields
    if title is None or status == "draft":
        return None
    return IndexSource(post_id, updated_at, title, sorted(tags), html or "")
