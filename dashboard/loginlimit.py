"""The dashboard's sign-in limit, kept in Redis so that no new browser session resets it.

Each try is first *reserved* (one atomic script), before any password hash runs: per user
name and per client address, a sorted set holds the tries of the last
``dashboard_login_window_s``. A subject with ``dashboard_login_max_failures`` tries in there,
or under a lockout, is refused (``LoginLocked``) at no scrypt cost. A failed try stays in the
set; the one that fills it starts a lockout of ``dashboard_login_lockout_s`` (and empties the
set). A successful try removes its own reservation. Reserving first keeps the limit under
concurrent tries as well: at most ``max_failures`` hashes run per subject and window.

Keys share the hash tag ``{login}`` (one Redis Cluster slot, as the script needs).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

import redis

from dashboard.accounts import normalize_name, valid_name
from pipeline.config import Settings
from pipeline.keys import LOGIN_LIMIT_PREFIX as PREFIX

_BEGIN = """
local now, window, max, lockout, member = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local wait = 0
for i = 1, #KEYS, 2 do
  local ttl = redis.call('PTTL', KEYS[i + 1])
  if ttl > wait then wait = ttl end
end
if wait > 0 then return wait end
local full = 0
for i = 1, #KEYS, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= max then
    redis.call('SET', KEYS[i + 1], '1', 'PX', lockout)
    redis.call('DEL', KEYS[i])
    full = lockout
  end
end
if full > 0 then return full end
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
return 0
"""
_FAIL = """
local max, lockout, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local locked = 0
for i = 1, #KEYS, 2 do
  if redis.call('ZSCORE', KEYS[i], member) and redis.call('ZCARD', KEYS[i]) >= max then
    redis.call('SET', KEYS[i + 1], '1', 'PX', lockout)
    redis.call('DEL', KEYS[i])
    locked = 1
  end
end
return locked
"""


class LoginLocked(Exception):
    """Too many failed sign-ins for this user or client address; ``retry_after_s`` to wait."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Attempt:
    """A reserved try: its token and the keys (tries, lock) of each subject."""

    token: str
    keys: tuple[str, ...]


def subjects(user: str, address: str | None) -> list[str]:
    """``u:<user>`` (when a valid account name) and ``a:<address>`` (``a:local`` if none)."""
    name = normalize_name(user)
    found = [f"u:{name}"] if valid_name(name) else []
    return [*found, f"a:{(address or 'local').strip().lower()[:64]}"]


class LoginLimiter:
    """Reserve, fail or clear sign-in tries against Redis."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.max = settings.dashboard_login_max_failures
        self.window_ms = settings.dashboard_login_window_s * 1000
        self.lockout_ms = settings.dashboard_login_lockout_s * 1000
        self._begin = client.register_script(_BEGIN)
        self._fail = client.register_script(_FAIL)

    @staticmethod
    def _keys(subject: str) -> tuple[str, str]:
        return f"{PREFIX}:tries:{subject}", f"{PREFIX}:lock:{subject}"

    def begin(self, user: str, address: str | None) -> Attempt:
        """Reserve a try, or raise ``LoginLocked`` (check this before verifying a password)."""
        keys = tuple(k for s in subjects(user, address) for k in self._keys(s))
        token = secrets.token_hex(8)
        now = int(time.time() * 1000)
        args = [now, self.window_ms, self.max, self.lockout_ms, token]
        wait_ms = int(self._begin(keys=list(keys), args=args))
        if wait_ms > 0:
            raise LoginLocked(math.ceil(wait_ms / 1000))
        return Attempt(token, keys)

    def failed(self, attempt: Attempt) -> bool:
        """Keep the try as a failure; ``True`` when it started a lockout."""
        args = [self.max, self.lockout_ms, attempt.token]
        return bool(self._fail(keys=list(attempt.keys), args=args))

    def succeeded(self, attempt: Attempt) -> None:
        """Drop the try's reservation (a success is no failure)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for tries in attempt.keys[::2]:
                pipe.zrem(tries, attempt.token)
            pipe.execute()

    def clear(self, user: str | None = None, address: str | None = None) -> int:
        """Lift the lockout and forget the tries of a user and/or address (keys removed)."""
        names: list[str] = []
        if user:
            names += self._keys(f"u:{normalize_name(user)}")
        if address:
            names += self._keys(f"a:{address.strip().lower()}")
        return int(self.redis.delete(*names)) if names else 0
