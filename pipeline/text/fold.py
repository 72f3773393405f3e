"""An NFKC-folded view of a text whose positions map back to the original.

Detectors match the view (full-width ``１３８``, ``＠`` and ``．`` read as ASCII; math and
circled digits as digits) and mask spans of the original, which is otherwise kept as
sent. Folding is NFKC per character (a ``str.translate`` table), so each original
character maps to a known run of the view.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from functools import cache

# Where NFKC changes single characters that can matter to detection: the BMP (full-width
# forms, ideographic space, superscripts, circled digits, ...), mathematical alphanumerics,
# enclosed alphanumerics and segmented digits.
_RANGES: tuple[tuple[int, int], ...] = (
    (0xA0, 0xD800),
    (0xE000, 0x10000),
    (0x1D400, 0x1D800),
    (0x1F100, 0x1F200),
)
_RANGES += ((0x1FBF0, 0x1FBFA),)


@cache
def _table() -> dict[int, str]:
    """Code point -> its NFKC form, for every character NFKC changes (~4k; ~40 ms once)."""
    table: dict[int, str] = {}
    for lo, hi in _RANGES:
        for cp in range(lo, hi):
            char = chr(cp)
            folded = unicodedata.normalize("NFKC", char)
            if folded != char:
                table[cp] = folded
    return table


class Folded:
    """``view`` is ``text`` folded; ``replace`` masks view spans in the original text."""

    __slots__ = ("text", "view")

    def __init__(self, text: str) -> None:
        self.text = text
        self.view = text if text.isascii() else text.translate(_table())

    def replace(self, spans: Iterable[tuple[int, int, str]]) -> str:
        """The original text with each view span ``(start, end, mask)`` replaced by ``mask``
        (spans must not overlap)."""
        text = self.text
        if len(self.view) == len(text):  # NFKC never maps a character to nothing: 1:1
            bounds = None
        else:
            table = _table()
            bounds = [0]
            for char in text:
                bounds.append(bounds[-1] + len(table.get(ord(char), char)))
        out: list[str] = []
        pos = 0
        for start, end, mask in sorted(spans):
            if bounds is not None:  # the original characters whose folding overlaps the span
                start = bisect_right(bounds, start) - 1
                end = bisect_left(bounds, end)
            if start < pos:
                continue
            out.append(text[pos:start])
            out.append(mask)
            pos = end
        out.append(text[pos:])
        return "".join(out)
