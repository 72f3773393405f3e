"""Analysts opening the dashboard at once: time to first chart and server CPU per page load
and per live refresh.

    python -m benchmarks.dashboard.concurrency [--sessions 1,4,8] [--cache cold,warm]
        [--repeats 1] [--json PATH]

Starts a private embedded stack, fills its Redis as ``make demo`` would (``seed``), starts the
real ``opinion dashboard`` and times its first page load (the server just started); then
opens Overview from N headless-Chromium sessions at the same moment (N = each of
``--sessions``; browsers cold, a first visit, and warm, a returning analyst: ``sessions``).
Per N: seconds until each session saw its first drawn chart (p50/p95/max over sessions) and
its whole page (both charts and the ranking table), and CPU seconds per page load from the
start until every page was complete: the Streamlit server's (process and children, psutil),
the browsers' (same machine) and the rest of the machine's (other work, in cores). Then
``--viewers`` sessions stay open on Overview (live refresh on, every 10 s by default) for
``--refresh-window-s``: CPU per viewer per refresh. With ``--floor`` the same rounds time a
title-only Streamlit page (``floor_app.py``, first element: its title), served the same way:
what any page costs here, whatever the dashboard does. The 1-minute load average is recorded
before each round (the run first waits up to ``--max-wait-s`` for it to drop below
``--max-load``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.dashboard.seed import seed_demo
from benchmarks.dashboard.server import (
    Dashboard,
    browser_cpu_seconds,
    busy_cpu_seconds,
    cpu_seconds,
    dashboard_server,
    driver_cpu_seconds,
    floor_server,
    load_average,
    private_stack,
    wait_for_quiet,
)
from benchmarks.dashboard.sessions import (
    FLOOR,
    OVERVIEW,
    PageLoad,
    Target,
    chromium,
    count_refreshes,
    open_all,
    sessions,
)

SETTLE_S = 3.0


@dataclass(frozen=True)
class LoadRound:
    """N sessions opening a page at once (over ``repeats`` rounds)."""

    page: str
    sessions: int
    cache: str
    repeats: int
    first_chart_p50_s: float
    first_chart_p95_s: float
    first_chart_max_s: float
    complete_p95_s: float
    wall_s: float
    server_cpu_s: float
    server_cpu_per_load_s: float
    browser_cpu_per_load_s: float
    other_cores: float
    load_avg: float


@dataclass(frozen=True)
class RefreshRound:
    """Viewers left open on Overview with live refresh."""

    viewers: int
    window_s: float
    refreshes: int
    server_cpu_s: float
    server_cpu_per_refresh_s: float
    browser_cpu_per_refresh_s: float
    other_cores: float
    load_avg: float


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass(frozen=True)
class Usage:
    """Seconds of server CPU, browser CPU, everything else's CPU (other work on the machine;
    not this driver) and wall time over a measured stretch."""

    server: float
    browser: float
    other: float
    wall: float


@dataclass
class Meter:
    """CPU seconds since ``start``: the dashboard server, the browsers, the rest."""

    pid: int
    server0: float = 0.0
    browser0: float = 0.0
    driver0: float = 0.0
    busy0: float = 0.0
    wall0: float = 0.0

    def start(self) -> Meter:
        self.server0, self.browser0 = cpu_seconds(self.pid), browser_cpu_seconds()
        self.driver0 = driver_cpu_seconds(self.pid)
        self.busy0, self.wall0 = busy_cpu_seconds(), time.perf_counter()
        return self

    def read(self) -> Usage:
        server = cpu_seconds(self.pid) - self.server0
        browser = browser_cpu_seconds() - self.browser0
        driver = driver_cpu_seconds(self.pid) - self.driver0
        busy = busy_cpu_seconds() - self.busy0
        wall = time.perf_counter() - self.wall0
        return Usage(server, browser, max(0.0, busy - server - browser - driver), wall)


@dataclass(frozen=True)
class Served:
    """A page under test: its server, what a session waits for, its name in the results."""

    dash: Dashboard
    target: Target = OVERVIEW
    page: str = "overview"


async def load_once(
    browser: Any, served: Served, count: int, cache: str
) -> tuple[list[PageLoad], Usage]:
    """One round: ``count`` sessions open the page together; their loads and CPU use."""
    dash = served.dash
    warm_url = dash.url if cache == "warm" else None
    async with sessions(browser, count, warm_url, served.target) as pages:
        await asyncio.sleep(SETTLE_S if warm_url else 0)
        meter = Meter(dash.pid).start()
        loads = await open_all(pages, dash.url, served.target)
        used = meter.read()
    await asyncio.sleep(SETTLE_S)
    return loads, used


async def load_round(
    browser: Any, served: Served, count: int, repeats: int, cache: str = "cold"
) -> LoadRound:
    """``repeats`` rounds of ``count`` concurrent loads (``cache``: cold or warm browsers),
    summarised."""
    loads: list[PageLoad] = []
    used: list[Usage] = []
    load = load_average()
    for _ in range(repeats):
        got, usage = await load_once(browser, served, count, cache)
        loads += got
        used.append(usage)
    server = sum(u.server for u in used)
    firsts = [x.first_chart_s for x in loads]
    return LoadRound(
        page=served.page,
        sessions=count,
        cache=cache,
        repeats=repeats,
        first_chart_p50_s=percentile(firsts, 50),
        first_chart_p95_s=percentile(firsts, 95),
        first_chart_max_s=max(firsts),
        complete_p95_s=percentile([x.complete_s for x in loads], 95),
        wall_s=max(u.wall for u in used),
        server_cpu_s=server,
        server_cpu_per_load_s=server / len(loads),
        browser_cpu_per_load_s=sum(u.browser for u in used) / len(loads),
        other_cores=sum(u.other for u in used) / sum(u.wall for u in used),
        load_avg=load,
    )


async def refresh_round(browser: Any, dash: Dashboard, viewers: int, window_s: float):
    """``viewers`` open Overview, settle, then the server's CPU over ``window_s`` of refreshes."""
    async with sessions(browser, viewers) as pages:
        await open_all(pages, dash.url)
        await asyncio.sleep(SETTLE_S)
        load = load_average()
        meter = Meter(dash.pid).start()
        refreshes = await count_refreshes(pages, window_s)
        usage = meter.read()
    return RefreshRound(
        viewers=viewers,
        window_s=window_s,
        refreshes=refreshes,
        server_cpu_s=usage.server,
        server_cpu_per_refresh_s=usage.server / refreshes if refreshes else float("nan"),
        browser_cpu_per_refresh_s=usage.browser / refreshes if refreshes else float("nan"),
        other_cores=usage.other / usage.wall,
        load_avg=load,
    )


async def load_rounds(browser: Any, served: Served, args: argparse.Namespace) -> list[LoadRound]:
    """Every ``--cache`` x ``--sessions`` round on one page."""
    return [
        await load_round(browser, served, n, args.repeats, cache)
        for cache in args.cache
        for n in args.sessions
    ]


async def measure(dash: Dashboard, args: argparse.Namespace) -> dict[str, Any]:
    """The dashboard's cold first load, its rounds and the live-refresh window."""
    served = Served(dash)
    async with chromium() as browser:
        cold = await load_round(browser, served, 1, 1)
        wait_for_quiet(args.max_load, args.max_wait_s)
        rounds = await load_rounds(browser, served, args)
        refresh = await refresh_round(browser, dash, args.viewers, args.refresh_window_s)
    return {"cold": asdict(cold), "loads": [asdict(r) for r in rounds], "refresh": asdict(refresh)}


async def measure_floor(floor: Dashboard, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The same rounds on the title-only page (after one unrecorded load)."""
    served = Served(floor, FLOOR, "floor")
    async with chromium() as browser:
        await load_round(browser, served, 1, 1)
        return [asdict(r) for r in await load_rounds(browser, served, args)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark: stack, demo data, dashboard (and floor page), browsers."""
    with private_stack() as settings:
        started = time.perf_counter()
        seeded = seed_demo(settings)
        print(f"seeded {seeded.counted} posts, {seeded.alerts} alerts in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        with dashboard_server(settings) as dash:
            result = asyncio.run(measure(dash, args))
        if args.floor:
            with floor_server(settings) as floor:
                result["loads"] += asyncio.run(measure_floor(floor, args))
    return {"posts": seeded.counted, "alerts": seeded.alerts, **result}


def table(result: dict[str, Any]) -> str:
    """The results as a markdown table (plus the cold load and the refresh line)."""
    lines = [
        "| page | browsers | sessions | first chart p50 | p95 | max | page complete p95 "
        "| server CPU / load | browser CPU / load | other work (cores) | load avg before |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["loads"]:
        lines.append(
            f"| {r['page']} | {r['cache']} | {r['sessions']} | {r['first_chart_p50_s']:.2f} s "
            f"| {r['first_chart_p95_s']:.2f} s "
            f"| {r['first_chart_max_s']:.2f} s | {r['complete_p95_s']:.2f} s "
            f"| {r['server_cpu_per_load_s']:.2f} s | {r['browser_cpu_per_load_s']:.2f} s "
            f"| {r['other_cores']:.2f} | {r['load_avg']:.2f} |"
        )
    cold, ref = result["cold"], result["refresh"]
    lines.append(
        f"\nCold first load (server just started): first chart {cold['first_chart_p50_s']:.2f} s,"
        f" server CPU {cold['server_cpu_per_load_s']:.2f} s."
    )
    lines.append(
        f"Live refresh, {ref['viewers']} viewers for {ref['window_s']:.0f} s: "
        f"{ref['refreshes']} refreshes, server CPU {ref['server_cpu_s']:.2f} s = "
        f"{ref['server_cpu_per_refresh_s']:.3f} s per viewer per refresh (browsers "
        f"{ref['browser_cpu_per_refresh_s']:.3f} s) "
        f"(other work {ref['other_cores']:.2f} cores, load avg {ref['load_avg']:.2f})."
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="1,4,8", help="Comma-separated session counts.")
    ap.add_argument("--repeats", type=int, default=1, help="Rounds per session count.")
    ap.add_argument(
        "--cache", default="cold,warm", help="Browsers: cold (first visit), warm (returning)."
    )
    ap.add_argument("--viewers", type=int, default=4, help="Viewers during the refresh window.")
    ap.add_argument("--refresh-window-s", type=float, default=30.0)
    ap.add_argument(
        "--floor",
        action="store_true",
        help="Also time a title-only Streamlit page (floor_app.py) the same way.",
    )
    ap.add_argument("--max-load", type=float, default=1.5)
    ap.add_argument("--max-wait-s", type=float, default=600.0)
    ap.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = ap.parse_args(argv)
    args.sessions = [int(n) for n in args.sessions.split(",") if n.strip()]
    args.cache = [c.strip() for c in args.cache.split(",") if c.strip()]
    if not set(args.cache) <= {"cold", "warm"}:
        ap.error("--cache takes cold and/or warm")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
