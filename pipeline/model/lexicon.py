"""Lexicon analyzers: VADER for English, a small curated lexicon for Chinese.

Each returns a compound score in [-1, 1] and the terms that carried valence (with their
signed valence after negation/intensity rules), strongest first. Both are thread-safe
(read-only state after construction) and cost tens of microseconds per message.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.text.hanzi import to_simplified

LEXICON_DIR = Path(__file__).with_name("lexicons")
_ALPHA = 15.0  # VADER's normalisation constant: compound = s / sqrt(s^2 + alpha)


@dataclass(frozen=True)
class LexiconResult:
    """A lexicon's view of one text."""

    compound: float
    terms: list[tuple[str, float]]


def normalize_score(total: float) -> float:
    return max(-1.0, min(1.0, total / math.sqrt(total * total + _ALPHA)))


class VaderLexicon:
    """VADER (``vaderSentiment``) with per-word valences exposed."""

    languages = ("en",)

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import (
            BOOSTER_DICT,
            SentimentIntensityAnalyzer,
            SentiText,
        )

        self._analyzer = SentimentIntensityAnalyzer()
        self._booster = BOOSTER_DICT
        self._sentitext = SentiText
        self._strip = SentiText._strip_punc_if_word

    def _replace_emojis(self, text: str) -> str:
        emojis = self._analyzer.emojis
        if text.isascii() or emojis.keys().isdisjoint(text):
            return text
        return " ".join("".join(f" {emojis[ch]} " if ch in emojis else ch for ch in text).split())

    def analyze(self, text: str) -> LexiconResult:
        """Compound score and (word, valence) pairs, as VADER computes them."""
        a = self._analyzer
        text = self._replace_emojis(text).strip()
        if not text:
            return LexiconResult(0.0, [])
        # Only lexicon words carry valence (VADER's rules just scale or negate them), so a
        # text without any has compound 0: skip the per-word rules (a third of all tweets).
        lexicon = a.lexicon
        lows = [self._strip(w).lower() for w in text.split()]
        if lexicon.keys().isdisjoint(lows):
            return LexiconResult(0.0, [])
        sentitext = self._sentitext(text)
        words = sentitext.words_and_emoticons
        sentiments: list[float] = []
        for i, item in enumerate(words):
            low = lows[i]
            if low in self._booster or (
                low == "kind" and i < len(words) - 1 and lows[i + 1] == "of"
            ):
                sentiments.append(0.0)
            elif low not in lexicon:
                sentiments.append(0.0)  # what sentiment_valence returns for it
            else:
                sentiments = a.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = a._but_check(words, sentiments)
        compound = float(a.score_valence(sentiments, text)["compound"])
        terms = [(w, float(v)) for w, v in zip(words, sentiments, strict=False) if v]
        terms.sort(key=lambda t: -abs(t[1]))
        return LexiconResult(compound, terms)


_ZH_NEGATORS = ("不是", "没有", "并不", "毫无", "从不", "不", "没", "无", "别", "未")
_ZH_BOOSTERS = {
    "非常": 1.4,
    "特别": 1.4,
    "十分": 1.3,
    "极其": 1.5,
    "超级": 1.4,
    "太": 1.3,
    "很": 1.2,
    "真": 1.2,
    "挺": 1.1,
    "比较": 0.9,
    "有点": 0.8,
    "有些": 0.8,
}


class ChineseLexicon:
    """A curated Chinese lexicon with longest-match lookup, negation and degree words."""

    languages = ("zh",)

    def __init__(self, path: Path | None = None) -> None:
        self.words: dict[str, float] = {}
        for line in (path or LEXICON_DIR / "zh_sentiment.txt").read_text("utf-8").splitlines():
            if line and not line.startswith("#"):
                word, _, value = line.partition("\t")
                self.words[word.strip()] = float(value)
        self._max_len = max(map(len, self.words))

    def _modifier(self, text: str, start: int) -> float:
        """Product of the negation/degree words just before ``start`` (up to 4 chars)."""
        factor = 1.0
        window = text[max(0, start - 4) : start]
        for neg in _ZH_NEGATORS:
            if window.endswith(neg) or window[:-1].endswith(neg):
                factor *= -0.75
                break
        for boost, mult in _ZH_BOOSTERS.items():
            if boost in window:
                factor *= mult
                break
        return factor

    def analyze(self, text: str) -> LexiconResult:
        """Matched terms (in Simplified script: Traditional text is converted first)."""
        text = to_simplified(text)
        terms: list[tuple[str, float]] = []
        i, n = 0, len(text)
        while i < n:
            for size in range(min(self._max_len, n - i), 0, -1):
                word = text[i : i + size]
                valence = self.words.get(word)
                if valence is not None:
                    terms.append((word, valence * self._modifier(text, i)))
                    i += size
                    break
            else:
                i += 1
        total = sum(v for _, v in terms)
        terms.sort(key=lambda t: -abs(t[1]))
        return LexiconResult(normalize_score(total), terms)


_lock = threading.Lock()


@cache
def _build(lang: str) -> VaderLexicon | ChineseLexicon | None:
    if lang == "en":
        return VaderLexicon()
    if lang == "zh":
        return ChineseLexicon()
    return None


def lexicon_for(lang: str) -> VaderLexicon | ChineseLexicon | None:
    """The (shared) lexicon analyzer for ``lang``, or None when there is none."""
    with _lock:
        return _build(lang)


def compound_to_probs(
    compound: float, scale: float = 4.0, neutral_band: float = 0.3
) -> list[float]:
    """Lexicon compound -> (negative, neutral, positive) probabilities.

    Softmax over logits ``(-scale*c, scale*(neutral_band - |c|), scale*c)``: a compound of 0
    is mostly neutral, the neutral/polar boundary sits at ``|c| = neutral_band / 2`` and
    strong compounds approach a confident polar distribution.
    """
    logits = (-scale * compound, scale * (neutral_band - abs(compound)), scale * compound)
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [x / total for x in exps]
