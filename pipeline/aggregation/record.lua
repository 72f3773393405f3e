-- Count scored posts into one hash-slot group (one watch, or overall), idempotently.
--
-- KEYS: every key this call touches (all share one hash tag, so one Cluster slot).
-- ARGV[1]: JSON {"mttl": marker TTL s, "ttl": bucket TTL s, "cap": recent-list cap,
--                "recent": KEYS index of the recent list (0 = none),
--                "scap": negative samples kept per bucket,
--                "ev": [event, ...]}
-- event: [marker_idx, label_metric, negativity_millionths, {key_idx, bucket, ...},
--         terms_idx (0 = none), {term, ...}, post_json ("" = none),
--         samples_idx (0 = none: not a negative post)]
-- An event whose marker already exists is skipped (a replay changes nothing).
-- Returns the number of events newly counted.
local plan = cjson.decode(ARGV[1])
local counted = 0
local touched = {}
local pushed = false
for _, ev in ipairs(plan.ev) do
  if redis.call('SET', KEYS[ev[1]], '1', 'NX', 'EX', plan.mttl) then
    counted = counted + 1
    local metric = ev[2]
    local negsum = ev[3]
    local updates = ev[4]
    for i = 1, #updates, 2 do
      local key = KEYS[updates[i]]
      local bucket = updates[i + 1]
      redis.call('HINCRBY', key, bucket .. ':v', 1)
      redis.call('HINCRBY', key, bucket .. ':' .. metric, 1)
      if negsum > 0 then
        redis.call('HINCRBY', key, bucket .. ':s', negsum)
      end
      touched[updates[i]] = true
    end
    if ev[5] > 0 then
      for _, term in ipairs(ev[6]) do
        redis.call('ZINCRBY', KEYS[ev[5]], 1, term)
      end
      touched[ev[5]] = true
    end
    if ev[8] > 0 and ev[7] ~= '' then
      -- the most negative posts of the bucket, for alerts raised long after it closed
      redis.call('ZADD', KEYS[ev[8]], ev[3], ev[7])
      redis.call('ZREMRANGEBYRANK', KEYS[ev[8]], 0, -(plan.scap + 1))
      touched[ev[8]] = true
    end
    if plan.recent > 0 and ev[7] ~= '' then
      redis.call('LPUSH', KEYS[plan.recent], ev[7])
      pushed = true
    end
  end
end
for idx in pairs(touched) do
  redis.call('EXPIRE', KEYS[idx], plan.ttl)
end
if pushed then
  redis.call('LTRIM', KEYS[plan.recent], 0, plan.cap - 1)
  redis.call('EXPIRE', KEYS[plan.recent], plan.ttl)
end
return counted
