"""Deterministic demo-feed generator: a scenario in, ``FeedMessage`` s out (by time).

``generate(scenario)`` plans the whole timeline first (Poisson arrivals per minute shaped by
the daily rhythm, bursts and incidents; reposts; malformed messages), then renders each
message's bytes lazily. Same scenario and seed: the same bytes, in the same order. Every
message carries ``expected``: what a correct pipeline should make of it.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import numpy as np

from devkit.feed.corpora import (
    FICTIONAL_FIRST,
    FICTIONAL_SECOND,
    HANDLE,
    NAME,
    PLACEHOLDERS,
    TAG,
    ZH_DOMAINS,
    Corpora,
    Domain,
    Label,
    load_corpora,
)
from devkit.feed.scenario import (
    MALFORMED_KINDS,
    Incident,
    MalformedKind,
    Rhythm,
    Scenario,
    Stream,
    parse_offset,
)
from pipeline.schemas import Stage

TopicRole = Literal["social", "news"]
Kind = Literal["valid", "repost", "invalid"]
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")
BIN_S = 60.0
REUSE_GAP_S = 2 * 3600.0  # > the worker's default repost window (OPINION_DEDUP_WINDOW_S)
FALLBACK: dict[Domain, Domain] = {
    "airline": "chatter",
    "service": "chatter",
    "tech": "chatter",
    "event": "chatter",
    "zh_product": "zh_review",
}

STAGE_OF: dict[MalformedKind, Stage] = {
    "bad_json": "parse",
    "non_object": "parse",
    "wrong_types": "validate",
    "missing_text": "validate",
    "empty_text": "validate",
    "huge_text": "validate",
    "invalid_utf8": "decode",
    "empty_value": "decode",
    "naive_datetime": "validate",
    "bad_source": "validate",
}


@dataclass(frozen=True)
class Expected:
    """What a correct pipeline makes of a message (ground truth for tests).

    ``kind``: 'valid' (an original post), 'repost' (exact text of ``repost_of`` by another
    author, minutes later) or 'invalid' (must be dead-lettered at ``stage``; ``invalid`` is the
    malformation). ``watch_ids``: the watches whose query it matches. ``sentiment``: the
    corpus label of its text (for news: of the quoted texts). ``incident``: the incident's
    name when posted about the incident's watch during it. ``tags``: 'near_miss' (close to a
    query but must not match), 'cross_mention', 'pii', 'extra_fields', 'lang_missing',
    'burst_phrase', 'incident_phrase'.
    """

    kind: Kind
    watch_ids: tuple[str, ...] = ()
    sentiment: Label | None = None
    lang: str | None = None
    incident: str | None = None
    burst: bool = False
    invalid: MalformedKind | None = None
    stage: Stage | None = None
    repost_of: str | None = None
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["watch_ids"] = list(self.watch_ids)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Expected:
        return cls(**{**data, "watch_ids": tuple(data["watch_ids"]), "tags": tuple(data["tags"])})


@dataclass(frozen=True)
class FeedMessage:
    """One message to produce: topic role, key, value bytes, and the ground truth."""

    index: int
    id: str
    at: datetime
    topic_role: TopicRole
    key: bytes | None
    value: bytes
    expected: Expected

    def to_json(self) -> dict[str, Any]:
        """A JSONL record: ``value`` as text for posts, ``value_b64`` for malformed ones."""
        record: dict[str, Any] = {
            "index": self.index,
            "id": self.id,
            "at": self.at.isoformat(),
            "topic_role": self.topic_role,
            "key": self.key.decode() if self.key is not None else None,
        }
        if self.expected.kind == "invalid":
            record["value_b64"] = base64.b64encode(self.value).decode()
        else:
            record["value"] = self.value.decode("utf-8")
        record["expected"] = self.expected.to_dict()
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FeedMessage:
        value = (
            base64.b64decode(record["value_b64"])
            if "value_b64" in record
            else record["value"].encode("utf-8")
        )
        key = record["key"]
        return cls(
            index=record["index"],
            id=record["id"],
            at=datetime.fromisoformat(record["at"]),
            topic_role=record["topic_role"],
            key=key.encode() if key is not None else None,
            value=value,
            expected=Expected.from_dict(record["expected"]),
        )


# --- planning -----------------------------------------------------------------------------
@dataclass
class _Planned:
    at: float
    order: int
    kind: Literal["post", "repost", "malformed"]
    source: TopicRole
    tz: timezone
    lang: str = "en"
    label: Label | None = None
    text: str = ""
    title: str | None = None
    author: str = ""
    outlet: tuple[str, str] | None = None
    watch_ids: tuple[str, ...] = ()
    incident: str | None = None
    burst: bool = False
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None
    lang_field: bool = True
    original: _Planned | None = None
    malformed: MalformedKind | None = None
    id: str = ""


OUTLETS_EN = (
    ("The Daily Ledger", "dailyledger"),
    ("Metro Wire", "metrowire"),
    ("Harbor Times", "harbortimes"),
    ("Northside Gazette", "northsidegazette"),
    ("Signal Business", "signalbiz"),
)
OUTLETS_ZH = (("晨星财经", "chenxing"), ("江城日报", "jiangcheng"), ("数码观察", "shumaguancha"))
REPORTERS_EN = (
    "Dana Whitfield", "Marco Ilves", "Priya Sandell", "Owen Trask", "Lina Okafor", "Tomas Brink",
)  # fmt: skip
REPORTERS_ZH = ("记者 林青", "记者 周远", "记者 许晴", "记者 韩松")
ZH_NICK_A = ("快乐的", "安静的", "晴天", "小小", "远方的", "橘子", "星星", "海边的", "早起的")
ZH_NICK_B = ("猫", "鱼", "熊", "鹿", "兔子", "风", "云", "树", "饺子")
CLIENTS = ("Chirper for Android", "Chirper for iPhone", "Chirper Web", "FeedDeck")

TITLES_EN: dict[Label, tuple[str, ...]] = {
    "negative": (
        "{name} under fire as {aud} complain",
        "Frustration grows among {name} {aud}",
        "{name} criticised after a wave of complaints",
        "Complaints about {name} pile up online",
    ),
    "neutral": (
        "What {aud} are saying about {name} this week",
        "{name} in the spotlight",
        "{name} answers questions from {aud}",
        "A closer look at {name}",
    ),
    "positive": (
        "{name} wins praise from {aud}",
        "{Aud} cheer {name}",
        "Good week for {name} as {aud} share praise",
        "{name} earns upbeat reviews",
    ),
}
LEADS_EN: dict[Label, str] = {
    "negative": "{Aud} of {name} voiced frustration online on {day}.",
    "neutral": "{name} drew comments from {aud} on {day}.",
    "positive": "{Aud} had good things to say about {name} on {day}.",
}
QUOTES_EN = ('One post read: "{q}"', 'Another said: "{q}"', 'A third wrote: "{q}"')
TITLES_ZH: dict[Label, tuple[str, ...]] = {
    "negative": ("{name}遭{aud}集中吐槽", "{name}口碑下滑，{aud}不满", "多名{aud}投诉{name}"),
    "neutral": ("{name}近期动态引关注", "{aud}热议{name}"),
    "positive": ("{name}获{aud}好评", "{aud}点赞{name}", "{name}口碑向好"),
}
LEADS_ZH: dict[Label, str] = {
    "negative": "近日，不少{aud}在网上反映对{name}的不满。",
    "neutral": "近日，{name}引发{aud}讨论。",
    "positive": "近日，{name}在{aud}中获得不少好评。",
}
QUOTES_ZH = ("有{aud}表示：“{q}”", "另有{aud}称：“{q}”", "还有人写道：“{q}”")

_FICTIONAL_HANDLE = re.compile(r"(?:\bRT\s+)?@\w+:?\s*")
_SPACES = re.compile(r"\s+")
_LEADING_HANDLE = re.compile(f"^(?:RT )?{HANDLE}[:,]?\\s*")


def mentions(text: str, stream: Stream) -> bool:
    """Whether ``text`` names the stream's watch as its query expects (see watches.yaml)."""
    forms = [f for f in (stream.name, stream.hashtag, stream.handle) if f]
    if stream.lang == "zh":
        return any(f.strip("#") in text for f in forms)
    words = {f.lstrip("@").lower() for f in forms}
    pattern = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.search(rf"(?<!\w)(?:{pattern})(?!\w)", text, re.I) is not None


def _rhythm(rhythm: Rhythm, hour: np.ndarray) -> np.ndarray:
    return 1.0 + rhythm.amplitude * np.cos(2 * np.pi * (hour - rhythm.peak_hour) / 24.0)


def _with_negative(mix: tuple[float, float, float], share: float) -> tuple[float, float, float]:
    """The mix with its negative share set and the other two scaled to fill the rest."""
    rest = (mix[1] + mix[2]) or 1.0
    return (share, (1 - share) * mix[1] / rest, (1 - share) * mix[2] / rest)


def _window_weight(incident: Incident, t: float) -> float:
    """0 outside the incident, ramping linearly to 1 inside it."""
    start, end = incident.start, incident.start + incident.duration
    if not start <= t < end:
        return 0.0
    if incident.ramp <= 0:
        return 1.0
    return min(1.0, (t - start) / incident.ramp, (end - t) / incident.ramp)


def _stable(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


class _Planner:
    def __init__(self, scenario: Scenario, corpora: Corpora) -> None:
        self.sc = scenario
        self.corpora = corpora
        self.order = 0
        self.cursors: dict[tuple[Domain, Label], tuple[np.ndarray, int, int]] = {}
        self.events: list[_Planned] = []
        self.used: dict[tuple[Domain, Label, int], list[float]] = {}
        self.n_bins = max(1, math.ceil(scenario.duration / BIN_S))
        self.bin_start = np.arange(self.n_bins) * BIN_S
        rng = self._rng("authors")
        self.authors_en = [
            f"{FICTIONAL_FIRST[a]}_{FICTIONAL_SECOND[b]}{n}"
            for a, b, n in zip(
                rng.integers(len(FICTIONAL_FIRST), size=scenario.authors),
                rng.integers(len(FICTIONAL_SECOND), size=scenario.authors),
                rng.integers(10, 1000, size=scenario.authors),
                strict=True,
            )
        ]
        self.authors_zh = [
            f"{ZH_NICK_A[a]}{ZH_NICK_B[b]}{n}"
            for a, b, n in zip(
                rng.integers(len(ZH_NICK_A), size=scenario.authors // 4),
                rng.integers(len(ZH_NICK_B), size=scenario.authors // 4),
                rng.integers(10, 1000, size=scenario.authors // 4),
                strict=True,
            )
        ]

    # -- helpers ------------------------------------------------------------------------
    def _rng(self, *parts: object) -> np.random.Generator:
        return np.random.default_rng([self.sc.seed, _stable(*parts)])

    def _next_order(self) -> int:
        self.order += 1
        return self.order

    def _take(self, domain: Domain, label: Label, at: float) -> str:
        """The next text of a pool (seeded permutations, cycling) not used near ``at``.

        A text is not reused within ``REUSE_GAP_S`` of another use, so the pipeline never
        takes two originals for reposts; a pool used up around ``at`` borrows from its
        fallback domain (the generator then inserts the watch's name).
        """
        if domain in ZH_DOMAINS and label == "neutral":
            label = "positive"
        pool = self.corpora.pool(domain, label)
        key = (domain, label)
        for _ in range(min(len(pool), 200)):
            perm, pos, cycle = self.cursors.get(key, (np.empty(0, dtype=int), 0, -1))
            if pos >= len(perm):
                cycle += 1
                perm, pos = self._rng("pool", domain, label, cycle).permutation(len(pool)), 0
            self.cursors[key] = (perm, pos + 1, cycle)
            idx = int(perm[pos])
            uses = self.used.setdefault((domain, label, idx), [])
            if all(abs(at - u) >= REUSE_GAP_S for u in uses):
                uses.append(at)
                return pool[idx]
        fallback = FALLBACK.get(domain)
        if fallback is not None:
            return self._take(fallback, label, at)
        uses.append(at)
        return pool[idx]

    def _hours(self, tz: timezone) -> np.ndarray:
        local = self.sc.start.astimezone(tz)
        h0 = local.hour + local.minute / 60 + local.second / 3600
        return (h0 + (self.bin_start + BIN_S / 2) / 3600.0) % 24.0

    def _arrivals(self, rng: np.random.Generator, per_hour: np.ndarray) -> np.ndarray:
        counts = rng.poisson(per_hour * BIN_S / 3600.0)
        starts = np.repeat(self.bin_start, counts)
        times = starts + rng.random(len(starts)) * BIN_S
        return np.sort(times[times < self.sc.duration])

    def _author(self, rng: np.random.Generator, lang: str, avoid: str = "") -> str:
        pool = self.authors_zh if lang == "zh" else self.authors_en
        for _ in range(5):
            name = pool[int(rng.integers(len(pool)))]
            if name != avoid:
                return name
        return name + "_"

    @staticmethod
    def _sample_label(rng: np.random.Generator, mix: tuple[float, float, float]) -> Label:
        u = rng.random() * sum(mix)
        return "negative" if u < mix[0] else "neutral" if u < mix[0] + mix[1] else "positive"

    def _decorate(self, rng: np.random.Generator, ev: _Planned) -> None:
        """PII, unknown extra fields, missing lang: the same rates everywhere."""
        sc = self.sc
        tags = list(ev.tags)
        if ev.source == "social" and rng.random() < sc.pii_fraction:
            first = FICTIONAL_FIRST[int(rng.integers(len(FICTIONAL_FIRST)))]
            n = int(rng.integers(1000, 10000))
            if ev.lang == "zh":
                ev.text += f" 联系电话1380013{n:04d}" if n % 2 else f" 邮箱{first}{n}@example.com"
            else:
                ev.text += (
                    f" Call me at +1-202-555-{n:04d}"
                    if n % 2
                    else f" Email {first}.{n}@example.com"
                )
            tags.append("pii")
        if rng.random() < sc.extra_fields_fraction:
            extra: dict[str, Any] = {
                "retweets": int(rng.integers(0, 500)),
                "client": CLIENTS[int(rng.integers(len(CLIENTS)))],
                "geo": {"country": "CN" if ev.lang == "zh" else "US"},
            }
            keep = sorted(rng.choice(list(extra), size=int(rng.integers(1, 4)), replace=False))
            ev.extra = {k: extra[k] for k in keep}
            tags.append("extra_fields")
        if rng.random() < sc.lang_missing_fraction:
            ev.lang_field = False
            tags.append("lang_missing")
        ev.tags = tuple(tags)

    # -- text ---------------------------------------------------------------------------
    @staticmethod
    def _fill(text: str, stream: Stream) -> str:
        return (
            text.replace(HANDLE, stream.handle or stream.name)
            .replace(TAG, stream.hashtag or stream.name)
            .replace(NAME, stream.name)
        )

    def _mentioning(self, rng: np.random.Generator, base: str, stream: Stream) -> str:
        """The corpus text with the watch's name in it (placeholders or an insertion)."""
        if any(p in base for p in PLACEHOLDERS):
            filled = self._fill(base, stream)
            if mentions(filled, stream):
                return filled
            base = filled
        handle, tag, name = stream.handle or stream.name, stream.hashtag or stream.name, stream.name
        if stream.lang == "zh":
            forms = (f"【{name}】{base}", f"{base}{tag}", f"{name}：{base}")
        else:
            forms = (f"{handle} {base}", f"{base} {tag}", f"{name}: {base}", f"{base} ({name})")
        return forms[int(rng.integers(len(forms)))]

    def _prose(self, text: str, stream: Stream) -> str:
        """A corpus text as a quote in an article: names, no handles or '#'."""
        text = _LEADING_HANDLE.sub("", text)  # the article's lead already names the watch
        text = text.replace(HANDLE, stream.name).replace(TAG, stream.name)
        text = text.replace(NAME, stream.name)
        if stream.lang == "zh":
            return text
        text = _FICTIONAL_HANDLE.sub("", text).replace("#", "")
        return _SPACES.sub(" ", text).strip(" :-")

    def _article(
        self, rng: np.random.Generator, stream: Stream, label: Label, at: float, phrase: str | None
    ) -> tuple[str, str]:
        zh = stream.lang == "zh"
        aud = stream.audience
        fmt = {"name": stream.name, "aud": aud, "Aud": aud[:1].upper() + aud[1:]}
        day = (self.sc.start + timedelta(seconds=at)).strftime("%A")
        titles, leads, quotes = (
            (TITLES_ZH, LEADS_ZH, QUOTES_ZH) if zh else (TITLES_EN, LEADS_EN, QUOTES_EN)
        )
        label_key: Label = "positive" if zh and label == "neutral" else label
        options = titles[label_key]
        title = options[int(rng.integers(len(options)))].format(**fmt)
        quoted = [
            self._prose(self._take(stream.domain, label, at), stream)
            for _ in range(int(rng.integers(1, 4)))
        ]
        if not zh and rng.random() < 0.4:
            short = quoted[0] if len(quoted[0]) <= 80 else quoted[0][:80].rsplit(" ", 1)[0] + "..."
            title = f'{stream.name}: "{short}"' if stream.name not in short else f'"{short}"'
        sentences = [leads[label_key].format(day=day, **fmt)]
        if phrase:
            title = (
                f"{phrase.rstrip('。.!')}：{stream.name}{aud}集中反映问题"
                if zh
                else f"{phrase.rstrip('.!')} - {stream.name} {aud} report problems"
            )
            sentences.append(
                f"多名{aud}反映：{phrase}" if zh else f'Many reported the same problem: "{phrase}"'
            )
        sentences += [quotes[i].format(q=q, **fmt) for i, q in enumerate(quoted)]
        return title, ("" if zh else " ").join(sentences)

    # -- streams ------------------------------------------------------------------------
    def plan_stream(self, stream: Stream) -> None:
        sc = self.sc
        tz = parse_offset(stream.utc_offset or sc.utc_offset)
        rhythm = _rhythm(stream.rhythm or sc.rhythm, self._hours(tz))
        incidents = [i for i in sc.incidents if i.watch == stream.watch]
        bursts = [b for b in sc.bursts if b.watch == stream.watch]
        centres = self.bin_start + BIN_S / 2
        volume = np.ones(self.n_bins)
        for inc in incidents:
            w = np.array([_window_weight(inc, float(t)) for t in centres])
            volume *= 1 + (inc.volume_multiplier - 1) * w
        for burst in bursts:
            inside = (centres >= burst.start) & (centres < burst.start + burst.duration)
            volume = np.where(inside, volume * burst.multiplier, volume)
        calm = (stream.mix or sc.calm_mix).normalised()
        rng_j = self._rng("jitter", stream.watch)
        n_hours = math.ceil(sc.duration / 3600) + 1
        jitter = np.clip(
            rng_j.normal(0, sc.mix_jitter, n_hours), -2 * sc.mix_jitter, 2 * sc.mix_jitter
        )
        others = [s for s in sc.streams if s.watch != stream.watch and s.lang == stream.lang]

        for source, per_hour in (
            ("social", stream.social_per_hour),
            ("news", stream.news_per_hour),
        ):
            if per_hour <= 0:
                continue
            rng = self._rng("stream", stream.watch, source)
            for t in self._arrivals(rng, per_hour * rhythm * volume):
                t = float(t)
                neg = min(0.95, max(0.02, calm[0] + jitter[int(t // 3600)]))
                mix = _with_negative(calm, neg)
                incident: Incident | None = None
                phrases: list[str] = []
                share = 0.0
                in_burst = False
                for burst in bursts:
                    if burst.start <= t < burst.start + burst.duration:
                        in_burst = True
                        if burst.mix is not None:
                            mix = burst.mix.normalised()
                        phrases, share = burst.phrases, burst.phrase_share
                for inc in incidents:
                    if inc.start <= t < inc.start + inc.duration:
                        incident = inc
                        w = _window_weight(inc, t)
                        mix = _with_negative(mix, mix[0] + w * (inc.negative_share - mix[0]))
                label = self._sample_label(rng, mix)
                if stream.domain in ZH_DOMAINS and label == "neutral":
                    label = "positive"
                tags: list[str] = []
                phrase = None
                if incident and label == "negative" and incident.phrases:
                    if rng.random() < incident.phrase_share:
                        phrase = incident.phrases[int(rng.integers(len(incident.phrases)))]
                        tags.append("incident_phrase")
                elif phrases and rng.random() < share:
                    phrase = phrases[int(rng.integers(len(phrases)))]
                    tags.append("burst_phrase")
                watch_ids = [stream.watch]
                ev = _Planned(
                    at=t,
                    order=self._next_order(),
                    kind="post",
                    source=source,  # type: ignore[arg-type]
                    tz=tz,
                    lang=stream.lang,
                    label=label,
                    incident=incident.name if incident else None,
                    burst=in_burst,
                )
                if source == "social":
                    text = self._mentioning(rng, self._take(stream.domain, label, t), stream)
                    if phrase:
                        text += phrase if stream.lang == "zh" else f" {phrase}"
                    if others and rng.random() < sc.cross_mention_fraction:
                        other = others[int(rng.integers(len(others)))]
                        text += f" {other.hashtag or other.name}"
                        watch_ids.append(other.watch)
                        tags.append("cross_mention")
                    ev.text = text
                    ev.author = self._author(rng, stream.lang)
                else:
                    ev.title, ev.text = self._article(rng, stream, label, t, phrase)
                    reporters = REPORTERS_ZH if stream.lang == "zh" else REPORTERS_EN
                    outlets = OUTLETS_ZH if stream.lang == "zh" else OUTLETS_EN
                    ev.author = reporters[int(rng.integers(len(reporters)))]
                    ev.outlet = outlets[int(rng.integers(len(outlets)))]
                ev.watch_ids = tuple(sorted(watch_ids))
                ev.tags = tuple(tags)
                self._decorate(rng, ev)
                self.events.append(ev)

    def plan_chatter(self) -> None:
        sc, ch = self.sc, self.sc.chatter
        calm = sc.calm_mix.normalised()
        for lang, per_hour, offset in (
            ("en", ch.en_per_hour, sc.utc_offset),
            ("zh", ch.zh_per_hour, ch.zh_utc_offset),
        ):
            if per_hour <= 0:
                continue
            tz = parse_offset(offset)
            rng = self._rng("chatter", lang)
            rhythm = _rhythm(sc.rhythm, self._hours(tz))
            for t in self._arrivals(rng, per_hour * rhythm):
                label = self._sample_label(rng, calm)
                domain: Domain = "zh_review" if lang == "zh" else "chatter"
                if lang == "zh" and label == "neutral":
                    label = "positive"
                text = self._take(domain, label, float(t))
                tags: tuple[str, ...] = ()
                if lang == "en" and ch.near_misses and rng.random() < ch.near_miss_fraction:
                    text += " " + ch.near_misses[int(rng.integers(len(ch.near_misses)))]
                    tags = ("near_miss",)
                ev = _Planned(
                    at=float(t),
                    order=self._next_order(),
                    kind="post",
                    source="social",
                    tz=tz,
                    lang=lang,
                    label=label,
                    text=text,
                    author=self._author(rng, lang),
                    tags=tags,
                )
                self._decorate(rng, ev)
                self.events.append(ev)

    def plan_reposts(self) -> None:
        cfg = self.sc.reposts
        rng = self._rng("reposts")
        copies: list[_Planned] = []
        for ev in self.events:
            if ev.source != "social" or ev.kind != "post" or rng.random() >= cfg.fraction:
                continue
            n = min(cfg.max_copies, int(rng.geometric(0.6)))
            for _ in range(n):
                delay = min(cfg.within, 5.0 + rng.exponential(cfg.within / 3))
                if ev.at + delay >= self.sc.duration:
                    continue
                copies.append(
                    _Planned(
                        at=ev.at + delay,
                        order=self._next_order(),
                        kind="repost",
                        source="social",
                        tz=ev.tz,
                        lang=ev.lang,
                        label=ev.label,
                        text=ev.text,
                        author=self._author(rng, ev.lang, avoid=ev.author),
                        watch_ids=ev.watch_ids,
                        incident=ev.incident,
                        burst=ev.burst,
                        tags=tuple(t for t in ev.tags if t != "extra_fields"),
                        lang_field=ev.lang_field,
                        original=ev,
                    )
                )
        self.events.extend(copies)

    def plan_malformed(self) -> None:
        cfg = self.sc.malformed
        if cfg.fraction <= 0 or not self.events:
            return
        rng = self._rng("malformed")
        n = round(len(self.events) * cfg.fraction / (1 - cfg.fraction))
        kinds = [k for k in MALFORMED_KINDS if cfg.kinds.get(k, 0) > 0]
        weights = np.array([cfg.kinds[k] for k in kinds], dtype=float)
        anchors = rng.integers(len(self.events), size=n)
        for i in anchors:
            at = min(self.events[int(i)].at + float(rng.random()), self.sc.duration - 1e-3)
            kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
            self.events.append(
                _Planned(
                    at=at,
                    order=self._next_order(),
                    kind="malformed",
                    source="news" if rng.random() < 0.15 else "social",
                    tz=parse_offset(self.sc.utc_offset),
                    text=self._take("chatter", "neutral", at),
                    author=self._author(rng, "en"),
                    malformed=kind,
                    title="Breaking: update",
                    outlet=OUTLETS_EN[int(rng.integers(len(OUTLETS_EN)))],
                )
            )


# --- rendering ----------------------------------------------------------------------------
def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _created_at(start: datetime, at: float, tz: timezone) -> str:
    moment = start + timedelta(milliseconds=round(at * 1000))
    return moment.astimezone(tz).isoformat(timespec="milliseconds")


def _post_dict(ev: _Planned, start: datetime) -> dict[str, Any]:
    post: dict[str, Any] = {
        "id": ev.id,
        "source": ev.source,
        "created_at": _created_at(start, ev.at, ev.tz),
    }
    if ev.source == "news":
        assert ev.outlet is not None
        outlet, host = ev.outlet
        day = (start + timedelta(seconds=ev.at)).strftime("%Y/%m/%d")
        post |= {
            "title": ev.title,
            "text": ev.text,
            "source_name": outlet,
            "author": ev.author,
            "url": f"https://{host}.example/{day}/{ev.id[:8]}",
        }
    else:
        zh = ev.lang == "zh"
        post |= {
            "text": ev.text,
            "source_name": "Miniblog" if zh else "Chirper",
            "author": ev.author,
            "url": f"https://{'miniblog' if zh else 'chirper'}.example/{ev.author}/{ev.id[:8]}",
        }
    if ev.lang_field:
        post["lang"] = ev.lang
    if ev.extra:
        post |= ev.extra
    return post


def _malformed_bytes(ev: _Planned, start: datetime, rng: np.random.Generator, huge: int) -> bytes:
    post = _post_dict(ev, start)
    variant = int(rng.integers(3))
    match ev.malformed:
        case "bad_json":
            raw = _dumps(post)
            return (raw[: len(raw) // 2], raw[:-1] + b",}", raw.replace(b'"', b"'"))[variant]
        case "non_object":
            return _dumps(([post], post["text"], 42)[variant])
        case "wrong_types":
            key, bad = (("id", 12345), ("text", ["not", "a", "string"]), ("created_at", True))[
                variant
            ]
            return _dumps(post | {key: bad})
        case "missing_text":
            post.pop("text")
            return _dumps(post)
        case "empty_text":
            return _dumps(post | {"text": ("", "   ", "\n\t ")[variant]})
        case "huge_text":
            words = (post["text"] + " ") * (huge // max(1, len(post["text"])) + 2)
            return _dumps(post | {"text": words[: huge + 10]})
        case "invalid_utf8":
            raw = _dumps(post | {"text": post["text"] + " BADBYTES"})
            return raw.replace(b"BADBYTES", (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80")[variant])
        case "empty_value":
            return b""
        case "naive_datetime":
            return _dumps(post | {"created_at": post["created_at"][:19]})
        case "bad_source":
            return _dumps(post | {"source": ("forum", "rss", "")[variant]})
    raise AssertionError(ev.malformed)


class FeedIterator(Iterator[FeedMessage]):
    """The planned feed, rendered one message at a time; ``len()`` is the total."""

    def __init__(self, scenario: Scenario, events: Sequence[_Planned], shift: timedelta) -> None:
        self.scenario = scenario
        self.events = events
        self.start = scenario.start + shift
        self._pos = 0
        self._rng = np.random.default_rng([scenario.seed, _stable("render")])

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> FeedIterator:
        return self

    def __next__(self) -> FeedMessage:
        if self._pos >= len(self.events):
            raise StopIteration
        index = self._pos
        self._pos += 1
        return self._render(index, self.events[index])

    def _render(self, index: int, ev: _Planned) -> FeedMessage:
        at = self.start + timedelta(milliseconds=round(ev.at * 1000))
        key: bytes | None = ev.id.encode()
        if ev.kind == "malformed":
            assert ev.malformed is not None
            value = _malformed_bytes(
                ev, self.start, self._rng, self.scenario.malformed.huge_text_chars
            )
            if self._rng.random() < 0.2:
                key = None
            expected = Expected(kind="invalid", invalid=ev.malformed, stage=STAGE_OF[ev.malformed])
        else:
            value = _dumps(_post_dict(ev, self.start))
            expected = Expected(
                kind="repost" if ev.kind == "repost" else "valid",
                watch_ids=ev.watch_ids,
                sentiment=ev.label,
                lang=ev.lang,
                incident=ev.incident,
                burst=ev.burst,
                repost_of=ev.original.id if ev.original else None,
                tags=ev.tags,
            )
        return FeedMessage(index, ev.id, at, ev.source, key, value, expected)


def plan(scenario: Scenario, corpora: Corpora | None = None) -> list[_Planned]:
    """The scenario's timeline, sorted by time (ids not yet assigned)."""
    planner = _Planner(scenario, corpora or load_corpora())
    for stream in scenario.streams:
        planner.plan_stream(stream)
    planner.plan_chatter()
    planner.plan_reposts()
    planner.plan_malformed()
    return sorted(planner.events, key=lambda e: (e.at, e.order))


def generate(
    scenario: Scenario, *, shift: timedelta = timedelta(0), corpora: Corpora | None = None
) -> FeedIterator:
    """The scenario's messages in time order; deterministic for a scenario and shift.

    ``shift`` moves every timestamp (``--shift-to-now``); ids are ``uuid5`` of the scenario
    name, seed, shift and index, so a shifted replay gets fresh ids.
    """
    events = plan(scenario, corpora)
    namespace = uuid.uuid5(
        uuid.NAMESPACE_URL,
        f"opinion-monitor/feed/{scenario.name}/{scenario.seed}/{int(shift.total_seconds())}",
    )
    for index, ev in enumerate(events):
        ev.id = str(uuid.uuid5(namespace, str(index)))
    return FeedIterator(scenario, events, shift)


def shift_to_end_now(scenario: Scenario, now: datetime | None = None) -> timedelta:
    """The shift that makes the scenario end at ``now`` (whole seconds)."""
    now = now or datetime.now(UTC)
    return timedelta(seconds=math.floor((now - scenario.end).total_seconds()))


@dataclass
class FeedSummary:
    """Counts of a feed (or of what a replay sent)."""

    by_topic: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    by_watch: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def add(self, msg: FeedMessage) -> None:
        exp = msg.expected
        self.total += 1
        self.by_topic[msg.topic_role] = self.by_topic.get(msg.topic_role, 0) + 1
        self.by_kind[exp.kind] = self.by_kind.get(exp.kind, 0) + 1
        if exp.invalid:
            self.invalid[exp.invalid] = self.invalid.get(exp.invalid, 0) + 1
        for watch in exp.watch_ids:
            self.by_watch[watch] = self.by_watch.get(watch, 0) + 1
        if exp.incident:
            self.incidents[exp.incident] = self.incidents.get(exp.incident, 0) + 1
