"""Safe HTML for post texts with the explanation terms highlighted."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
LABEL_COLORS = {"negative": "#d1495b", "neutral": "#8d99ae", "positive": "#2a9d8f"}


def _term_pattern(term: str) -> str:
    body = re.escape(term)
    return body if _CJK.search(term) else rf"(?<!\w){body}(?!\w)"


def highlight(text: str, terms: Iterable[str], label: str | None = None) -> str:
    """``text`` as escaped HTML with each term (case-insensitive) wrapped in ``<mark>``.

    Latin terms match whole words, CJK terms as substrings. The mark colour follows
    ``label`` (negative red, positive green, neutral grey).
    """
    wanted = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not wanted:
        return html.escape(text)
    pattern = re.compile("|".join(_term_pattern(t) for t in wanted), re.IGNORECASE)
    color = LABEL_COLORS.get(label or "", "#f2c14e")
    style = f"background-color:{color}33;border-bottom:2px solid {color};padding:0 2px"
    out: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[pos : match.start()]))
        out.append(f'<mark class="term" style="{style}">{html.escape(match.group(0))}</mark>')
        pos = match.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def probability_bar(probabilities: dict[str, float]) -> str:
    """A small stacked bar (HTML) of the three class probabilities, with numbers."""
    parts = []
    labels = []
    for name in ("negative", "neutral", "positive"):
        p = max(0.0, float(probabilities.get(name, 0.0)))
        color = LABEL_COLORS[name]
        parts.append(f'<span style="flex:{p:.4f} 1 0;background:{color}"></span>')
        labels.append(f'<span style="color:{color}">{name[:3]} {p:.2f}</span>')
    bar = (
        '<span class="prob-bar" style="display:inline-flex;width:160px;height:8px;'
        f'background:#eee;vertical-align:middle">{"".join(parts)}</span>'
    )
    return f"{bar} <small>{' · '.join(labels)}</small>"
