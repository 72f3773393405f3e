-- Count scored posts into one hash-slot group (one watch, or overall), idempotently.
--
-- KEYS: every key this call touches (all share one hash tag, so one Cluster slot).
-- ARGV[1]: JSON {"mttl": marker TTL s, "ttl": bucket TTL s, "cap": recent-list cap,
--                "recent": KEYS index of the recent list (0 = none),
--                "scap": negative samples kept per bucket,
--                "tcap": distinct terms kept per terms key (the least frequent go first),
--                "marks": KEYS index of the scope's input-offset hash,
--                "parts": {"<topic>:<partition>", ...} (the input partitions named below),
--                "upd": [{key_idx, bucket, ...}, ...] (the counters an event adds to,
--                        shared by every event of the same bucket, source and language),
--                "ev": [event, ...]}
-- event: [marker_idx (0 = none), label_metric, negativity_millionths, upd_idx (1-based),
--         terms_idx (0 = none), {term, ...}, post_json ("" = none),
--         samples_idx (0 = none: not a negative post),
--         part_idx (1-based into parts; 0 = no input position), offset]
-- Idempotence: an event with an input position counts only if its offset is above the
-- scope's mark for that partition, and the call raises the mark to the highest offset it saw
-- (each worker commits a partition's chunks in offset order from an offset the group
-- committed after counting, so every offset at or below a mark was counted: state is one
-- field per scope and partition, not one key per post). An event without a position (tools,
-- tests) uses a marker key instead: counted only if the marker did not exist.
-- The new events' increments are summed first and written once per counter field and term,
-- so a batch costs one HINCRBY per distinct (bucket, metric), not per event.
-- Returns the number of events newly counted.
local plan = cjson.decode(ARGV[1])
local counted = 0
local sums = {}       -- upd_idx -> {v, n, u, p, s}
local terms = {}      -- terms key idx -> {term -> count}
local sampled = {}    -- samples key idx -> true
local recent = {}
local marks = {}      -- part idx -> the scope's mark before this call
local highest = {}    -- part idx -> highest offset in this call
local function is_new(ev)
  local part = ev[9]
  if part == 0 then
    return redis.call('SET', KEYS[ev[1]], '1', 'NX', 'EX', plan.mttl)
  end
  local mark = marks[part]
  if mark == nil then
    mark = tonumber(redis.call('HGET', KEYS[plan.marks], plan.parts[part]) or '-1')
    marks[part] = mark
  end
  if ev[10] > (highest[part] or -1) then
    highest[part] = ev[10]
  end
  return ev[10] > mark
end
for _, ev in ipairs(plan.ev) do
  if is_new(ev) then
    counted = counted + 1
    local acc = sums[ev[4]]
    if not acc then
      acc = {v = 0, n = 0, u = 0, p = 0, s = 0}
      sums[ev[4]] = acc
    end
    acc.v = acc.v + 1
    acc[ev[2]] = acc[ev[2]] + 1
    acc.s = acc.s + ev[3]
    if ev[5] > 0 then
      local counts = terms[ev[5]] or {}
      terms[ev[5]] = counts
      for _, term in ipairs(ev[6]) do
        counts[term] = (counts[term] or 0) + 1
      end
    end
    if ev[8] > 0 and ev[7] ~= '' then
      -- the most negative posts of the bucket, for alerts raised long after it closed
      redis.call('ZADD', KEYS[ev[8]], ev[3], ev[7])
      sampled[ev[8]] = true
    end
    if plan.recent > 0 and ev[7] ~= '' then
      recent[#recent + 1] = ev[7]
    end
  end
end
-- per counter field: the sum over every update list that names it
local fields = {}     -- key idx -> {field -> increment}
for u, acc in pairs(sums) do
  local updates = plan.upd[u]
  for i = 1, #updates, 2 do
    local per_key = fields[updates[i]] or {}
    fields[updates[i]] = per_key
    local bucket = updates[i + 1]
    for _, metric in ipairs({'v', 'n', 'u', 'p', 's'}) do
      if acc[metric] > 0 then
        local name = bucket .. ':' .. metric
        per_key[name] = (per_key[name] or 0) + acc[metric]
      end
    end
  end
end
for idx, per_key in pairs(fields) do
  for name, by in pairs(per_key) do
    redis.call('HINCRBY', KEYS[idx], name, by)
  end
  redis.call('EXPIRE', KEYS[idx], plan.ttl)
end
for idx, counts in pairs(terms) do
  for term, by in pairs(counts) do
    redis.call('ZINCRBY', KEYS[idx], by, term)
  end
  if redis.call('ZCARD', KEYS[idx]) > plan.tcap then
    -- a flood of distinct terms: keep the most frequent, so the set stays bounded
    redis.call('ZREMRANGEBYRANK', KEYS[idx], 0, -(plan.tcap + 1))
  end
  redis.call('EXPIRE', KEYS[idx], plan.ttl)
end
for idx in pairs(sampled) do
  redis.call('ZREMRANGEBYRANK', KEYS[idx], 0, -(plan.scap + 1))
  redis.call('EXPIRE', KEYS[idx], plan.ttl)
end
if #recent > 0 then
  -- oldest first, as one LPUSH per event would have left them (newest at the head)
  for i = 1, #recent, 500 do
    redis.call('LPUSH', KEYS[plan.recent], unpack(recent, i, math.min(i + 499, #recent)))
  end
  redis.call('LTRIM', KEYS[plan.recent], 0, plan.cap - 1)
  redis.call('EXPIRE', KEYS[plan.recent], plan.ttl)
end
for part, offset in pairs(highest) do
  if offset > marks[part] then
    redis.call('HSET', KEYS[plan.marks], plan.parts[part], string.format('%.0f', offset))
  end
end
if next(highest) ~= nil then
  redis.call('EXPIRE', KEYS[plan.marks], plan.ttl)
end
return counted
