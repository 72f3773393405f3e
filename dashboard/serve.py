"""What ``opinion dashboard`` execs: Streamlit's own command line, in a process that has
already imported the app's modules and built its chart templates.

Streamlit imports nothing of the app until the first session runs it, so the first analyst
used to wait for pandas, Altair (and its Vega-Lite schema), Redis and the pipeline to load.
Loaded here instead, before the server listens; then ``gc.freeze()`` moves that long-lived
heap out of the garbage collector's way, so later collections do not rescan it.

    python -m dashboard.serve run dashboard/app.py --server.port=8501 ...
"""

from __future__ import annotations

import gc
import logging
import sys

QUIET = "streamlit.runtime.caching.cache_data_api"
"""Warns 'No runtime found' at each ``st.cache_data`` defined before the server runs (the
caches themselves are made at first use, inside the runtime)."""


def preload() -> None:
    """Import what every page run needs and build the Overview's chart templates."""
    import streamlit  # noqa: F401  (creates its loggers, with their levels)

    logger = logging.getLogger(QUIET)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from dashboard import charts, data, overview_model, ui  # noqa: F401
    finally:
        logger.setLevel(level)
    for metric in charts.METRIC_TITLES:
        for shaded in (False, True):
            charts.trend_spec_template(metric, shaded)


def main() -> None:
    preload()
    gc.collect()
    gc.freeze()
    from streamlit.web.cli import main as streamlit_main

    sys.exit(streamlit_main(prog_name="streamlit"))


if __name__ == "__main__":
    main()
