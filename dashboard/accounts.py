"""Dashboard accounts and roles, kept in Redis (no Streamlit).

One Redis hash, ``opinion:dashboard:accounts``: field = the user name, value = JSON
``{"role": ..., "hash": ..., "created_at": ...}`` with ``hash`` a salted scrypt hash
(``dashboard.auth.hash_password``) or ``""`` for an account that only an auth proxy signs in.

Roles, each with everything the one before may do:

- ``viewer``: every page, read-only;
- ``analyst``: label posts, acknowledge alerts;
- ``admin``: create, edit, enable and disable watches; resolve alerts (a manually resolved
  incident opens no new alert until the detector calms down); re-queue parked deliveries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

import redis

from dashboard.auth import hash_password, verify_password
from pipeline.keys import DASHBOARD_ACCOUNTS as ACCOUNTS_KEY

Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
Action = Literal["label", "acknowledge", "resolve", "requeue", "edit_watches"]
REQUIRED_ROLE: dict[Action, Role] = {
    "label": "analyst",
    "acknowledge": "analyst",
    "resolve": "admin",
    "requeue": "admin",
    "edit_watches": "admin",
}
"""The least role each dashboard action needs (one place; the pages and their callbacks ask
``permits``)."""

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_DUMMY_HASH = hash_password("no such account")  # keeps unknown names as slow as known ones


class AccountError(ValueError):
    """A bad account name or role, or a missing or existing account; the message says why."""


def permits(role: Role | None, action: Action) -> bool:
    """Whether ``role`` may do ``action`` (no role: nothing)."""
    return role is not None and ROLES.index(role) >= ROLES.index(REQUIRED_ROLE[action])


def normalize_name(name: str) -> str:
    """The stored form of a user name: stripped, lower-case."""
    return name.strip().lower()


def valid_name(name: str) -> bool:
    """Whether ``name`` (normalised) can be an account: ``[a-z0-9][a-z0-9._@-]``, 1-64 chars."""
    return NAME_RE.fullmatch(name) is not None


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    password_hash: str = ""
    created_at: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"role": self.role, "hash": self.password_hash, "created_at": self.created_at}
        )

    @classmethod
    def from_json(cls, name: str, raw: bytes | str) -> Account | None:
        """The account, or ``None`` when the stored value is unreadable (never signs in)."""
        try:
            value = json.loads(raw)
            return cls(
                name,
                check_role(value["role"]),
                value.get("hash") or "",
                value.get("created_at") or "",
            )
        except (ValueError, KeyError, TypeError):
            return None


class AccountStore:
    """Add, change, list and verify dashboard accounts in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def _name(self, name: str) -> str:
        value = normalize_name(name)
        if not valid_name(value):
            raise AccountError(
                f"invalid user name {name!r}: 1-64 of a-z 0-9 . _ @ -, starting with a letter "
                "or digit"
            )
        return value

    def get(self, name: str) -> Account | None:
        value = normalize_name(name)
        if not valid_name(value):
            return None
        raw = self.redis.hget(ACCOUNTS_KEY, value)
        return Account.from_json(value, raw) if raw is not None else None

    def all(self) -> list[Account]:
        """Every readable account, by name."""
        found = []
        for key, raw in self.redis.hgetall(ACCOUNTS_KEY).items():
            name = key.decode() if isinstance(key, bytes) else key
            account = Account.from_json(name, raw)
            if account is not None:
                found.append(account)
        return sorted(found, key=lambda a: a.name)

    def count(self) -> int:
        return int(self.redis.hlen(ACCOUNTS_KEY))

    def add(self, name: str, role: str, password: str | None) -> Account:
        """Create an account (``password=None``: proxy sign-in only); refuses an existing one."""
        account = Account(
            self._name(name),
            check_role(role),
            hash_password(password) if password is not None else "",
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if not self.redis.hsetnx(ACCOUNTS_KEY, account.name, account.to_json()):
            raise AccountError(
                f"user {account.name!r} exists: use set-role or set-password, or remove-user first"
            )
        return account

    def _replace(self, name: str, **changes: str) -> Account:
        current = self.get(self._name(name))
        if current is None:
            raise AccountError(
                f"no user {normalize_name(name)!r}: see `opinion dashboard list-users`"
            )
        updated = Account(
            current.name,
            check_role(changes.get("role", current.role)),
            changes.get("password_hash", current.password_hash),
            current.created_at,
        )
        self.redis.hset(ACCOUNTS_KEY, updated.name, updated.to_json())
        return updated

    def set_role(self, name: str, role: str) -> Account:
        return self._replace(name, role=check_role(role))

    def set_password(self, name: str, password: str) -> Account:
        return self._replace(name, password_hash=hash_password(password))

    def remove(self, name: str) -> bool:
        return bool(self.redis.hdel(ACCOUNTS_KEY, self._name(name)))

    def verify(self, name: str, password: str) -> Account | None:
        """The account when ``password`` is its password (one scrypt call either way)."""
        account = self.get(name)
        encoded = account.password_hash if account and account.password_hash else _DUMMY_HASH
        ok = verify_password(password, encoded)
        return account if ok and account is not None and account.password_hash else None
