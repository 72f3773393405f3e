"""Redis Cluster: live spike detection (per-watch locks and state, alerts opened once) and
the dashboard's Redis-backed actions (accounts, sign-in limit, labels, watches, alerts), by
the same tests as on one Redis."""

from __future__ import annotations

from tests.dashboard.conftest import dash_settings  # noqa: F401
from tests.dashboard.test_accounts import (  # noqa: F401
    test_a_viewer_cannot_label_change_watches_or_act_on_alerts,
    test_account_store,
    test_limit_counts_tries_in_flight_and_expires,
    test_limit_per_user_and_per_address,
)
from tests.detection.test_live import *  # noqa: F403
