-- The alert-delivery outbox (pipeline/alerting/deliveries.py): claim, sent, retry, park, requeue.
-- KEYS[1] the channel's due zset, KEYS[2] the parked zset, KEYS[3] the records hash,
-- KEYS[4] the payloads hash (all under the {alerts} hash tag).
-- ARGV[1] the operation, ARGV[2] now (epoch seconds); the rest depends on the operation.
local due, parked, records, payloads = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, now = ARGV[1], tonumber(ARGV[2])

local function load(id)
  local raw = redis.call('HGET', records, id)
  if not raw then
    return nil
  end
  return cjson.decode(raw)
end

local function save(id, d)
  redis.call('HSET', records, id, cjson.encode(d))
end

-- claim: ARGV[3] lease end, ARGV[4] limit, ARGV[5] token. Moves each due delivery's due time
-- to the lease end and counts the attempt; returns the claimed records (JSON).
if op == 'claim' then
  local out = {}
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, id in ipairs(ids) do
    local d = load(id)
    if d and d.state == 'pending' then
      d.attempts = (tonumber(d.attempts) or 0) + 1
      d.last_attempt_at = now
      d.due_at = tonumber(ARGV[3])
      d.token = ARGV[5]
      save(id, d)
      redis.call('ZADD', due, ARGV[3], id)
      out[#out + 1] = cjson.encode(d)
    else
      redis.call('ZREM', due, id)
    end
  end
  return out
end

local id = ARGV[3]
local d = load(id)
if not d then
  return 0
end

-- sent: the channel accepted it; whoever holds the lease now, the delivery is done.
if op == 'sent' then
  if d.state == 'sent' then
    return 0
  end
  d.state, d.sent_at, d.token, d.due_at = 'sent', now, nil, nil
  save(id, d)
  redis.call('ZREM', due, id)
  redis.call('ZREM', parked, id)
  redis.call('HDEL', payloads, id)
  return 1
end

-- retry (ARGV[6] next due time) and park: only by the holder of the lease (ARGV[4] token);
-- ARGV[5] the error.
if op == 'retry' or op == 'park' then
  if d.state ~= 'pending' or d.token ~= ARGV[4] then
    return 0
  end
  d.token, d.last_error = nil, ARGV[5]
  if op == 'retry' then
    d.failures = (tonumber(d.failures) or 0) + 1
    d.due_at = tonumber(ARGV[6])
    redis.call('ZADD', due, ARGV[6], id)
  else
    d.state, d.parked_at, d.due_at = 'parked', now, nil
    redis.call('ZREM', due, id)
    redis.call('ZADD', parked, now, id)
  end
  save(id, d)
  return 1
end

-- requeue: a parked delivery is due again now, its failure streak forgotten.
if op == 'requeue' then
  if d.state ~= 'parked' then
    return 0
  end
  d.state, d.failures, d.parked_at, d.due_at = 'pending', 0, nil, now
  save(id, d)
  redis.call('ZREM', parked, id)
  redis.call('ZADD', due, now, id)
  return 1
end

return redis.error_reply('unknown outbox operation ' .. tostring(op))
