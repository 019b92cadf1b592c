package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts that move entries. Each runs atomically in Redis, so a
// finding is always in exactly one of the stream, the delayed set or the
// dead letters, whatever crashes. Time is the Redis server's (TIME), shared
// by every instance. Unix µs values are built as strings: Lua's number
// format keeps only 14 digits.

// prelude is prepended to every script that needs its helpers.
const prelude = `
if redis.replicate_commands then redis.replicate_commands() end
local function now()
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return ms, t[1] .. string.format('%06d', tonumber(t[2]))
end
local function field(kv, name)
  for i = 1, #kv, 2 do
    if kv[i] == name then return kv[i + 1] end
  end
  return nil
end
local function owned(stream, group, consumer, id)
  local p = redis.pcall('XPENDING', stream, group, id, id, 1, consumer)
  return type(p) == 'table' and p.err == nil and #p > 0
end
`

// scriptClaim leases up to ARGV[3] entries to consumer ARGV[2] for ARGV[4]
// ms: first it puts up to that many due delayed findings back on the
// stream (a delayed event whose payload is missing is dead-lettered, never
// dropped), then takes over entries whose lease ended (XCLAIM), then reads
// new ones (XREADGROUP), recording each one's lease end in the leases set.
// Claiming and recording the lease in one script means no pending entry is
// ever without a lease. Returns the entries as {id, {field, value, …}}.
// KEYS: stream, leases, delayed, payload, dead, deadIndex, attempts.
var scriptClaim = goredis.NewScript(prelude + `
local ms, us = now()
local n = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ms, 'LIMIT', 0, n)
for _, ev in ipairs(due) do
  local f = redis.call('HGET', KEYS[4], ev)
  if f then
    redis.call('XADD', KEYS[1], '*', 'event_id', ev, 'finding', f)
  else
    local tries = tonumber(redis.call('HGET', KEYS[7], ev) or '0')
    redis.call('HSET', KEYS[5], ev, cjson.encode({reason = 'delayed finding has no payload', attempts = tries, failed_at = us, entry = '', finding = ''}))
    redis.call('ZADD', KEYS[6], ms, ev)
  end
  redis.call('ZREM', KEYS[3], ev)
  redis.call('HDEL', KEYS[4], ev)
end
local until_ms = ms + tonumber(ARGV[4])
local out = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ms, 'LIMIT', 0, n)
if #expired > 0 then
  redis.call('ZREM', KEYS[2], unpack(expired))
  local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(expired))
  for _, e in ipairs(got) do
    if type(e) == 'table' and type(e[2]) == 'table' then
      redis.call('ZADD', KEYS[2], until_ms, e[1])
      out[#out + 1] = e
    elseif type(e) == 'table' then
      redis.call('XACK', KEYS[1], ARGV[1], e[1]) -- deleted meanwhile (Redis 6)
    end
  end
end
if #out < n then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', n - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do
      redis.call('ZADD', KEYS[2], until_ms, e[1])
      out[#out + 1] = e
    end
  end
end
return out
`)

// scriptAck acknowledges and deletes entries and records the success time.
// KEYS: stream, attempts, lastError, lastSuccess, leases.
// ARGV: group, then entry ID, event ID pairs.
var scriptAck = goredis.NewScript(prelude + `
local ms, us = now()
local n = 0
for i = 2, #ARGV, 2 do
  local r = redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[i])
  if type(r) == 'number' then n = n + r end
  redis.call('XDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[5], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i + 1])
  redis.call('HDEL', KEYS[3], ARGV[i + 1])
end
redis.call('SET', KEYS[4], us)
return n
`)

// scriptRetry moves entries this consumer still holds to the delayed set,
// due ARGV[3] ms from now, counting the attempt: the delayed copy is
// written before the entry is acked and deleted. Entries another consumer
// took over (lease expired) are left to it. Returns the events delayed.
// KEYS: stream, delayed, payload, attempts, lastError, leases.
// ARGV: group, consumer, delay ms, last error, then entry ID, event ID pairs.
var scriptRetry = goredis.NewScript(prelude + `
local ms = now()
local due = ms + tonumber(ARGV[3])
local done = {}
local n = 0
for i = 5, #ARGV, 2 do
  local id, ev = ARGV[i], ARGV[i + 1]
  if owned(KEYS[1], ARGV[1], ARGV[2], id) then
    local e = redis.call('XRANGE', KEYS[1], id, id)
    local ok = #e == 0 or done[ev]
    if not ok then
      local f = field(e[1][2], 'finding')
      if f then
        redis.call('HSET', KEYS[3], ev, f)
        redis.call('ZADD', KEYS[2], due, ev)
        redis.call('HINCRBY', KEYS[4], ev, 1)
        redis.call('HSET', KEYS[5], ev, ARGV[4])
        done[ev] = true
        n = n + 1
        ok = true
      end
    end
    if ok then
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XDEL', KEYS[1], id)
      redis.call('ZREM', KEYS[6], id)
    end
  end
end
return n
`)

// scriptDead moves entries this consumer still holds to the dead letters
// with the reason and the attempt count including this one; as with
// Retry, entries another consumer took over are left to it. Returns the
// events dead-lettered.
// KEYS: stream, dead, deadIndex, attempts, lastError, leases.
// ARGV: group, consumer, reason, then entry ID, event ID pairs.
var scriptDead = goredis.NewScript(prelude + `
local ms, us = now()
local done = {}
local n = 0
for i = 4, #ARGV, 2 do
  local id, ev = ARGV[i], ARGV[i + 1]
  if owned(KEYS[1], ARGV[1], ARGV[2], id) then
    local e = redis.call('XRANGE', KEYS[1], id, id)
    if #e > 0 and not done[ev] then
      local f = field(e[1][2], 'finding') or ''
      local tries = tonumber(redis.call('HGET', KEYS[4], ev) or '0') + 1
      redis.call('HSET', KEYS[2], ev, cjson.encode({reason = ARGV[3], attempts = tries, failed_at = us, entry = id, finding = f}))
      redis.call('ZADD', KEYS[3], ms, ev)
      redis.call('HDEL', KEYS[4], ev)
      redis.call('HDEL', KEYS[5], ev)
      done[ev] = true
      n = n + 1
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[6], id)
  end
end
return n
`)

// scriptLeave removes consumer ARGV[2] from group ARGV[1] if it holds no
// entry (deleting a consumer drops its pending entries, which would lose
// them).
// KEYS: stream.
var scriptLeave = goredis.NewScript(`
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(p) == 'table' and p.err == nil and #p == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
`)

// scriptReap removes the consumers of group ARGV[1], other than ARGV[2],
// that hold no entry and were idle at least ARGV[3] ms: the names of dead
// instances. Returns how many.
// KEYS: stream.
var scriptReap = goredis.NewScript(`
local cs = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(cs) ~= 'table' or cs.err then return 0 end
local ttl = tonumber(ARGV[3])
local n = 0
for _, c in ipairs(cs) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1]
    elseif c[i] == 'pending' then pending = c[i + 1]
    elseif c[i] == 'idle' then idle = c[i + 1] end
  end
  if name and name ~= ARGV[2] and pending == 0 and idle and idle >= ttl then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    n = n + 1
  end
end
return n
`)

// scriptRedrive puts dead letters back on the stream, oldest first, with
// their finding as it was queued; malformed ones (no finding JSON) stay.
// KEYS: stream, dead, deadIndex, attempts. ARGV: max (≤ 0: all).
var scriptRedrive = goredis.NewScript(`
local max = tonumber(ARGV[1])
local stop = -1
if max > 0 then stop = max - 1 end
local ids = redis.call('ZRANGE', KEYS[3], 0, stop)
local n = 0
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', KEYS[2], id)
  local ok, r = false, nil
  if rec then ok, r = pcall(cjson.decode, rec) end
  if ok and type(r) == 'table' and type(r.finding) == 'string' and string.sub(r.finding, 1, 1) == '{' then
    redis.call('XADD', KEYS[1], '*', 'event_id', id, 'finding', r.finding)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    n = n + 1
  end
end
return n
`)
