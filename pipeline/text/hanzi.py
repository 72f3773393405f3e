"""Traditional -> Simplified Chinese for the zh route (Taiwan / Hong Kong posts).

The Chinese models and lexicon were built on Simplified (mainland) text, so Traditional
posts are converted first with OpenCC (Apache-2.0 native wheel): Hong Kong variant
characters to standard Traditional (``hk2t``), then Taiwan phrases and characters to
mainland Simplified (``tw2sp``: 軟體 -> 软件, 網路 -> 网络, 計程車 -> 出租车). Text with no
Traditional-only character is returned unchanged after one regex scan (~1 µs), and text
that ``hk2s`` leaves unchanged (著作, 知识份子: characters both scripts use) too, so
mainland posts keep their own wording (``tw2sp`` alone would rewrite 影片 -> 视频 in them).
Thread-safe; the converters load on first use (~0.1 s).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

# CJK Unified Ideographs, Extension A and the Compatibility block: every character OpenCC
# maps from Traditional lives here.
_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))
_lock = threading.Lock()
_loaded: tuple[Callable[[str], str], re.Pattern[str]] | None = None


def _load() -> tuple[Callable[[str], str], re.Pattern[str]]:
    global _loaded
    with _lock:
        if _loaded is None:
            try:
                import opencc
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise ImportError(
                    "Traditional Chinese needs OpenCC: pip install 'opencc>=1.1.7,<2'"
                ) from exc
            hk2t = opencc.OpenCC("hk2t.json").convert
            hk2s = opencc.OpenCC("hk2s.json").convert
            tw2sp = opencc.OpenCC("tw2sp.json").convert

            def convert(text: str) -> str:
                # hk2s keeps Simplified words that share a character with Traditional
                # (著作, 知识份子): no change there means the text is Simplified already.
                return text if hk2s(text) == text else tw2sp(hk2t(text))

            chars = [chr(c) for lo, hi in _RANGES for c in range(lo, hi)]
            # One character per line: no phrase rules apply, only character mappings.
            mapped = tw2sp(hk2t("\n".join(chars))).split("\n")
            # Characters that some mapping produces (么, 里, 台) are Simplified too: a mainland
            # post with one of them must not trigger the Taiwan phrase rules.
            simplified = set(mapped)
            traditional = "".join(
                c for c, m in zip(chars, mapped, strict=True) if c != m and c not in simplified
            )
            _loaded = (convert, re.compile(f"[{re.escape(traditional)}]"))
        return _loaded


def has_traditional(text: str) -> bool:
    """Whether ``text`` holds a character that only Traditional script uses."""
    _, pattern = _load()
    return pattern.search(text) is not None


def to_simplified(text: str) -> str:
    """``text`` in mainland Simplified script and wording; unchanged when already Simplified."""
    convert, pattern = _load()
    if pattern.search(text) is None:
        return text
    return convert(text)
