"""Dashboard access control: salted password hashes and the bind-address rule (no Streamlit).

A hash is ``scrypt:<n>:<r>:<p>:<salt b64>:<key b64>`` (``hashlib.scrypt``; no ``$``, so it
survives ``.env`` files and docker-compose interpolation); ``pbkdf2_sha256:<iterations>:<salt
b64>:<key b64>`` is accepted too, and so is ``$`` as the separator. A login (or a trusted
auth-proxy header) is required whenever the server listens on anything but loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets

from pipeline.config import Settings

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
LOCAL_USER = "analyst"


class AuthConfigError(RuntimeError):
    """The dashboard would be reachable off-localhost without any access control."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` for ``OPINION_DASHBOARD_PASSWORD_HASH``."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = salt or secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES
    )
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{_b64(salt)}:{_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time; malformed hashes never match)."""
    try:
        encoded = encoded.strip()
        scheme, *parts = encoded.split(":" if ":" in encoded else "$")
        if scheme == "scrypt" and len(parts) == 5:
            n, r, p = (int(x) for x in parts[:3])
            salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.scrypt(
                password.encode("utf-8"),
                salt=salt,
                n=n,
                r=r,
                p=p,
                dklen=len(want),
                maxmem=256 * 1024 * 1024,
            )
        elif scheme == "pbkdf2_sha256" and len(parts) == 3:
            salt, want = base64.b64decode(parts[1]), base64.b64decode(parts[2])
            got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(parts[0]))
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def is_local_address(address: str) -> bool:
    """True for loopback addresses and host names (``127.0.0.1``, ``::1``, ``localhost``)."""
    value = address.strip().strip("[]").lower()
    if value in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def auth_mode(settings: Settings) -> str:
    """``header`` (auth proxy), ``password`` (login form) or ``none`` (localhost only)."""
    if settings.dashboard_auth_header:
        return "header"
    if settings.dashboard_password_hash is not None:
        return "password"
    return "none"


def check_bind(settings: Settings) -> None:
    """Raise ``AuthConfigError`` when bound off-localhost without a login or proxy header."""
    if auth_mode(settings) == "none" and not is_local_address(settings.dashboard_address):
        raise AuthConfigError(
            f"refusing to serve the dashboard on {settings.dashboard_address!r} without access "
            "control: set OPINION_DASHBOARD_PASSWORD_HASH (from `opinion dashboard "
            "hash-password`) or OPINION_DASHBOARD_AUTH_HEADER (a header set by your auth "
            "proxy), or bind to 127.0.0.1."
        )
