"""The Lua scripts ``RedisLimits`` runs: each check-and-reserve, and each close, is one atomic script.

Redis runs a script alone, so a check and the reservation it allows cannot interleave with another
replica's; ``redis.asyncio`` registers each script once and calls it by its SHA1 (EVALSHA), loading
it again only when the server lost its script cache (a restart).

Conventions, shared by every script:

- Time: ``now`` in seconds, from the caller's clock when one is passed (tests), else Redis's own
  ``TIME``, so that every replica reads the same clock.
- Numbers: money in integer nano-USD (the ledger keeps 9 decimal places, so Redis counts exactly what
  the ledger sums) and tokens in whole tokens, passed to ``INCRBY`` as the strings they came as;
  Lua's doubles only compare them (exact below 2**53, about 9 million USD in one customer-month).
- Returns: a table whose first element is the outcome; figures come back as strings or integers.
- Keys: every key of a script shares one hash tag (``{k:KEY}`` or ``{b:CUSTOMER:MONTH}``), so a
  Redis Cluster keeps them in one slot.

Rate window of one API key (``KEYS``): 1 ``rq`` ZSET request id -> admission time; 2 ``tk`` ZSET
``"TOKENS:ID"`` -> settle time; 3 ``w`` HASH ``used`` (settled tokens in the window), ``held`` (tokens
held by requests in flight) and ``h:ID`` -> tokens held by request ID; 4 ``hd`` ZSET request id ->
the deadline of its hold.

Budget of one customer-month (``KEYS``): 1 ``spent`` (nano-USD settled; missing until seeded from the
ledger); 2 ``reserved`` (nano-USD held by open reservations); 3 ``res`` HASH request id -> nano-USD;
4 ``dl`` ZSET request id -> deadline; 5 ``expired`` HASH request id -> nano-USD of reservations dropped
at their deadline (a dead replica's), so that a late settle still counts its spend, once.
"""

from __future__ import annotations

_CLOCK = """
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- every digit of the double (17 significant), so that a window's edge is the very time
-- InMemoryLimits compares against, not one rounded to the microsecond past a request's own time
local function fmt(x) return string.format('%.17g', x) end
"""

# Drops what left the window (requests, settled tokens) and holds past their deadline.
_PRUNE_WINDOW = """
local function prune_window(now, window)
  local horizon = fmt(now - window)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', horizon)
  if #old > 0 then
    local freed = 0
    for _, member in ipairs(old) do freed = freed + tonumber(string.match(member, '^(%d+):')) end
    redis.call('HINCRBY', KEYS[3], 'used', string.format('%d', -freed))
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
  end
  local dead = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', fmt(now))
  if #dead > 0 then
    for _, id in ipairs(dead) do
      local held = redis.call('HGET', KEYS[3], 'h:' .. id)
      if held then
        redis.call('HDEL', KEYS[3], 'h:' .. id)
        redis.call('HINCRBY', KEYS[3], 'held', '-' .. held)
      end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(now))
  end
end
local function counts()
  local used = redis.call('HGET', KEYS[3], 'used') or '0'
  return tonumber(used), tonumber(redis.call('HGET', KEYS[3], 'held') or '0')
end
"""

#: ARGV: request id, rpm ('' none), tpm ('' none), tokens (whole), now ('' Redis TIME), window s,
#: hold deadline s, key TTL s. Returns {1} admitted; {0, wait s} over rpm; {2} tokens above tpm;
#: {3, wait s, used, held} the tokens do not fit the window now. Mirrors ``InMemoryLimits.admit``.
ADMIT = (
    _CLOCK
    + _PRUNE_WINDOW
    + """
local now, window = clock(ARGV[5]), tonumber(ARGV[6])
prune_window(now, window)
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = window
  if oldest[2] then wait = tonumber(oldest[2]) + window - now end
  return {0, fmt(wait)}
end
local tokens = tonumber(ARGV[4])
if ARGV[3] ~= '' then
  local tpm = tonumber(ARGV[3])
  if tokens > tpm then return {2} end
  local used, held = counts()
  local over = used + held + tokens - tpm
  if over > 0 or used + held >= tpm then
    -- wait until enough settled tokens leave the window; held ones leave when their requests end
    local wait, freed, need = 1.0, 0, math.max(over, 1e-9)
    local log = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for i = 1, #log, 2 do
      freed = freed + tonumber(string.match(log[i], '^(%d+):'))
      if freed >= need then
        wait = math.max(wait, tonumber(log[i + 1]) + window - now)
        break
      end
    end
    return {3, fmt(wait), used, held}
  end
end
redis.call('ZADD', KEYS[1], fmt(now), ARGV[1])
if tokens > 0 then
  if redis.call('HSETNX', KEYS[3], 'h:' .. ARGV[1], ARGV[4]) == 1 then
    redis.call('HINCRBY', KEYS[3], 'held', ARGV[4])
    redis.call('ZADD', KEYS[4], fmt(now + tonumber(ARGV[7])), ARGV[1])
  end
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[8]) end
return {1}
"""
)

#: ARGV: request id, tokens used (whole; '' to release), now ('' Redis TIME). Closes the hold and
#: counts min(used, held) in the window. Returns 1 when it closed a hold, 0 when there was none (closed
#: already, or past its deadline): a retried close does nothing.
SETTLE_TOKENS = (
    _CLOCK
    + """
local held = redis.call('HGET', KEYS[3], 'h:' .. ARGV[1])
if not held then return 0 end
redis.call('HDEL', KEYS[3], 'h:' .. ARGV[1])
redis.call('HINCRBY', KEYS[3], 'held', '-' .. held)
redis.call('ZREM', KEYS[4], ARGV[1])
if ARGV[2] ~= '' then
  local counted = math.min(tonumber(ARGV[2]), tonumber(held))
  if counted > 0 then
    redis.call('ZADD', KEYS[2], fmt(clock(ARGV[3])), string.format('%d:%s', counted, ARGV[1]))
    redis.call('HINCRBY', KEYS[3], 'used', string.format('%d', counted))
  end
end
return 1
"""
)

#: ARGV: now ('' Redis TIME), window s. Returns {used, held} after pruning (``RedisLimits.usage``).
USAGE = (
    _CLOCK
    + _PRUNE_WINDOW
    + """
prune_window(clock(ARGV[1]), tonumber(ARGV[2]))
local used, held = counts()
return {used, held}
"""
)

# Moves reservations past their deadline (their replica died) from ``res`` to ``expired``.
_PRUNE_RESERVATIONS = """
local function prune_reservations(now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', fmt(now))
  if #dead == 0 then return end
  for _, id in ipairs(dead) do
    local amount = redis.call('HGET', KEYS[3], id)
    if amount then
      redis.call('HDEL', KEYS[3], id)
      redis.call('DECRBY', KEYS[2], amount)
      redis.call('HSET', KEYS[5], id, amount)
    end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(now))
end
"""

#: ARGV: request id, amount (nano-USD), limit (budget plus credit, nano-USD), now ('' Redis TIME),
#: deadline s, key TTL s. Returns {-1} when ``spent`` is missing (seed it from the ledger, then call
#: again); {1, spent, reserved} reserved (or reserved already under this id); {0, spent, reserved}
#: over budget (figures before this request).
RESERVE = (
    _CLOCK
    + _PRUNE_RESERVATIONS
    + """
local now = clock(ARGV[4])
prune_reservations(now)
local spent = redis.call('GET', KEYS[1])
if not spent then return {-1} end
local reserved = redis.call('GET', KEYS[2]) or '0'
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {1, spent, reserved} end
if tonumber(spent) + tonumber(reserved) + tonumber(ARGV[2]) > tonumber(ARGV[3]) then
  return {0, spent, reserved}
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
reserved = redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[4], fmt(now + tonumber(ARGV[5])), ARGV[1])
for i = 2, 5 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return {1, spent, reserved}
"""
)

#: ARGV: request id, actual (nano-USD; '' to release), now ('' Redis TIME). Closes the reservation and
#: adds min(actual, reserved) to ``spent`` (when it exists: a missing one is seeded from the ledger,
#: which has this request's event). Returns {1, counted} closed an open reservation; {2, counted} one
#: that had expired (its spend still counts); {0, '0'} none under this id: closed already.
SETTLE = (
    _CLOCK
    + _PRUNE_RESERVATIONS
    + """
prune_reservations(clock(ARGV[3]))
local state = 1
local amount = redis.call('HGET', KEYS[3], ARGV[1])
if amount then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('DECRBY', KEYS[2], amount)
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  amount = redis.call('HGET', KEYS[5], ARGV[1])
  if not amount then return {0, '0'} end
  redis.call('HDEL', KEYS[5], ARGV[1])
  state = 2
end
local counted = '0'
if ARGV[2] ~= '' then
  counted = ARGV[2]
  if tonumber(amount) < tonumber(counted) then counted = amount end
  if tonumber(counted) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCRBY', KEYS[1], counted)
  end
end
return {state, counted}
"""
)

#: KEYS: the spend counter. ARGV: the ledger's spend (nano-USD), key TTL s. Sets the counter to it where
#: it is missing (with the TTL) or lower (keeping its TTL); returns 1 set, 2 raised, 0 left as it was.
SEED = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  return 2
end
return 0
"""
