"""Concurrent analysts in headless Chromium (Playwright, async): each session is its own
browser context (no shared cache or cookies). A *cold* session is a first visit (empty
cache: every script and font is fetched and compiled); a *warm* one has opened the
dashboard once before (untimed), like an analyst who uses it daily, and opens it again in a
new tab."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from devkit.browser import CHROMIUM_ARGS, chromium_path

VIEWPORT = {"width": 1400, "height": 1500}
CHART_DRAWN = '[data-testid="stVegaLiteChart"] > :is(svg.marks, canvas)'
"""A Vega-Lite chart that has drawn its marks (not just its placeholder element)."""
TABLE = '[data-testid="stTable"] table'
STAMP = "text= · updated "
TIMEOUT_MS = 180_000


@dataclass(frozen=True)
class Target:
    """What a session waits for: its first element (the 'first chart'), then the rest of the
    page, as (selector, index) pairs."""

    first: str
    rest: tuple[tuple[str, int], ...] = ()


OVERVIEW = Target(CHART_DRAWN, ((CHART_DRAWN, 1), (TABLE, 0)))
FLOOR = Target("h1")
"""The floor page (``floor_app.py``): a title, nothing else."""


@dataclass(frozen=True)
class PageLoad:
    """Seconds from the common start until a session saw its first chart, its whole page."""

    first_chart_s: float
    complete_s: float


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """One headless Chromium for all sessions (contexts isolate them)."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("chromium not found: install Debian's `chromium` (make browser)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def visit_once(context: Any, url: str, target: Target) -> None:
    """Open ``url`` in ``context`` until the target's first element shows, then close the tab."""
    page = await context.new_page()
    await page.goto(url)
    await page.locator(target.first).first.wait_for(state="visible")
    await page.close()


@asynccontextmanager
async def sessions(
    browser: Any, count: int, warm_url: str | None = None, target: Target = OVERVIEW
) -> AsyncIterator[list[Any]]:
    """``count`` blank pages, each in its own new context (first warmed up by a visit to
    ``warm_url`` when given, one context after the other); closed on exit."""
    contexts = [await browser.new_context(viewport=VIEWPORT) for _ in range(count)]
    for context in contexts:
        context.set_default_timeout(TIMEOUT_MS)
        if warm_url is not None:
            await visit_once(context, warm_url, target)
    pages = [await context.new_page() for context in contexts]
    try:
        yield pages
    finally:
        for context in contexts:
            await context.close()


async def open_page(page: Any, url: str, start: float, target: Target) -> PageLoad:
    """Open ``url``; time the target's first element (Overview: its first drawn chart), then
    the rest (Overview: the second chart and the ranking table)."""
    await page.goto(url, wait_until="commit")
    await page.locator(target.first).first.wait_for(state="visible")
    first = time.perf_counter() - start
    for selector, index in target.rest:
        await page.locator(selector).nth(index).wait_for(state="visible")
    return PageLoad(first, time.perf_counter() - start)


async def open_all(pages: list[Any], url: str, target: Target = OVERVIEW) -> list[PageLoad]:
    """Every page opens ``url`` at the same moment."""
    start = time.perf_counter()
    return list(await asyncio.gather(*(open_page(p, url, start, target) for p in pages)))


async def stamp(page: Any) -> str:
    """The Overview's 'updated HH:MM:SS' caption (changes at each live refresh)."""
    return str(await page.locator(STAMP).first.inner_text())


async def count_refreshes(pages: list[Any], seconds: float, poll_s: float = 1.0) -> int:
    """Live refreshes seen on ``pages`` during ``seconds`` (distinct captions, polled)."""
    last = [await stamp(p) for p in pages]
    seen = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        await asyncio.sleep(poll_s)
        now = [await stamp(p) for p in pages]
        seen += sum(a != b for a, b in zip(last, now, strict=True))
        last = now
    return seen
