"""Dashboard access control without Streamlit: password hashes and who must sign in.

A hash is ``scrypt:<n>:<r>:<p>:<salt b64>:<key b64>`` (``hashlib.scrypt``; no ``$``, so it
survives ``.env`` files and docker-compose interpolation); ``pbkdf2_sha256:<iterations>:<salt
b64>:<key b64>`` is accepted too, and so is ``$`` as the separator.

Who signs in (``auth_mode``), decided from the address the server really binds:

- ``header``: ``OPINION_DASHBOARD_AUTH_HEADER`` names the user, trusted only from a server
  bound to loopback or from ``OPINION_DASHBOARD_TRUSTED_PROXIES``;
- ``password``: an account (``dashboard.accounts``) signs in; always off-loopback, and on
  loopback once any account (or the deprecated ``OPINION_DASHBOARD_PASSWORD_HASH``) exists;
- ``none``: a loopback server with no accounts; its one user, ``analyst``, is the operator
  (role admin).
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
"""The operator of an open loopback server (role admin; the name labels used before accounts)."""
LEGACY_USER = "admin"
"""The one account (role admin) of the deprecated ``OPINION_DASHBOARD_PASSWORD_HASH``."""


class AuthConfigError(RuntimeError):
    """The dashboard would be reachable off-localhost without any access control."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` (accounts; ``OPINION_DASHBOARD_PASSWORD_HASH``)."""
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


def is_local_address(address: str | None) -> bool:
    """True for loopback addresses and host names (``127.0.0.1``, ``::1``, ``localhost``);
    false for an empty address (all interfaces)."""
    value = (address or "").strip().strip("[]").lower()
    if value in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def is_trusted_proxy(settings: Settings, client_ip: str | None) -> bool:
    """Whether a request from ``client_ip`` (``None``: loopback) came from a trusted proxy."""
    values = [client_ip] if client_ip else ["127.0.0.1", "::1"]
    try:
        ips = [ipaddress.ip_address(v.strip().strip("[]")) for v in values]
    except ValueError:
        return False
    networks = [ipaddress.ip_network(net) for net in settings.dashboard_trusted_proxies]
    return any(ip in net for ip in ips for net in networks)


def auth_mode(settings: Settings, bind_address: str | None = None, accounts: int = 0) -> str:
    """``header`` (auth proxy), ``password`` (accounts) or ``none`` (open loopback server).

    ``bind_address`` is what the server binds (default ``OPINION_DASHBOARD_ADDRESS``);
    ``accounts`` how many dashboard accounts exist.
    """
    if settings.dashboard_auth_header:
        return "header"
    address = settings.dashboard_address if bind_address is None else bind_address
    if settings.dashboard_password_hash is not None or accounts or not is_local_address(address):
        return "password"
    return "none"


def check_bind(settings: Settings, accounts: int = 0) -> None:
    """Raise ``AuthConfigError`` when the server would start with no one able to get in, or
    would trust a user header from anyone."""
    address = settings.dashboard_address
    if is_local_address(address):
        return
    if settings.dashboard_auth_header:
        if not settings.dashboard_trusted_proxies:
            raise AuthConfigError(
                f"refusing to trust {settings.dashboard_auth_header!r} from anyone on "
                f"{address!r}: set OPINION_DASHBOARD_TRUSTED_PROXIES to your auth proxy's "
                "address (JSON list of IPs/CIDRs), or bind to 127.0.0.1 behind it."
            )
        return
    if settings.dashboard_password_hash is None and not accounts:
        raise AuthConfigError(
            f"refusing to serve the dashboard on {address!r} with no account to sign in: run "
            "`opinion dashboard add-user NAME --role admin`, or set "
            "OPINION_DASHBOARD_AUTH_HEADER behind an auth proxy, or bind to 127.0.0.1."
        )
