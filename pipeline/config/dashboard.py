"""Settings of the Streamlit dashboard: binding, sign-in, proxies, label signing."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from pipeline.config.types import NetworkName


class DashboardSettings(BaseModel):
    """Where the dashboard listens, who may sign in, how labels are signed."""

    dashboard_port: int = Field(8501, description="Dashboard HTTP port.")
    dashboard_address: str = Field(
        "127.0.0.1", description="Dashboard bind address; anything but loopback requires a sign-in."
    )
    dashboard_password_hash: SecretStr | None = Field(
        None,
        description="Deprecated: password hash (`opinion dashboard hash-password`) of one "
        "`admin` account; use `opinion dashboard add-user`.",
    )
    dashboard_auth_header: str | None = Field(
        None,
        description="Trust this header's user from an auth proxy (loopback bind or "
        "trusted proxies) instead of a sign-in.",
    )
    dashboard_trusted_proxies: tuple[NetworkName, ...] = Field(
        (),
        description="Auth proxies (JSON list of IPs/CIDRs) whose user header is trusted when "
        "the dashboard is bound off-localhost.",
    )
    dashboard_login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins per user or client address before a lockout."
    )
    dashboard_login_window_s: int = Field(
        900, ge=1, description="Window in which failed sign-ins are counted."
    )
    dashboard_login_lockout_s: int = Field(
        900, ge=1, description="How long a user or client address is then refused."
    )
    label_signing_key: SecretStr | None = Field(
        None,
        min_length=16,
        description="HMAC key the dashboard signs labels with and `opinion train` verifies "
        "(the same value in both; at least 16 characters).",
    )
