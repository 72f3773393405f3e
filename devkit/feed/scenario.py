"""The demo-feed scenario file: a versioned YAML (``scenario_version: 1``) read into pydantic.

Scenarios live in ``devkit/feed/scenarios/<name>.yaml``; ``load_scenario`` takes a name
(``demo-v1``) or a path. Durations and offsets are seconds or strings like ``90s``, ``15m``,
``2h``, ``1d6h``. See ``docs/feed.md`` for every field.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from devkit.feed.corpora import Domain

SCENARIO_DIR = Path(__file__).with_name("scenarios")
DEFAULT_WATCHES_FILE = Path(__file__).with_name("watches.yaml")
SUPPORTED_VERSIONS = (1,)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.I)
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``"1d6h"``, ``"15m"``, ``"90s"``."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.replace(" ", "")
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNIT_S[u.lower()] for n, u in parts)
    raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '90s', '15m', '2h', '1d6h')")


def parse_offset(value: str) -> timezone:
    """``"+08:00"`` -> a fixed timezone."""
    match = _OFFSET.match(value)
    if not match:
        raise ValueError(f"not a UTC offset: {value!r} (use e.g. '+00:00', '+08:00')")
    sign = -1 if match.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Offset = Annotated[str, Field(pattern=r"^[+-]\d{2}:\d{2}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mix(_Model):
    """Class probabilities of sampled texts (normalised when used)."""

    negative: Share
    neutral: Share = 0.0
    positive: Share

    def normalised(self) -> tuple[float, float, float]:
        total = self.negative + self.neutral + self.positive
        if total <= 0:
            raise ValueError("a sentiment mix needs a positive total")
        return (self.negative / total, self.neutral / total, self.positive / total)


class Rhythm(_Model):
    """Daily rhythm: rate multiplier ``1 + amplitude * cos(2π (hour - peak_hour) / 24)``."""

    peak_hour: float = Field(14.0, ge=0, lt=24)
    amplitude: float = Field(0.7, ge=0, le=1)


class Stream(_Model):
    """Posts about one watch: which corpus domain, how the brand is written, how many."""

    watch: str
    domain: Domain
    lang: Literal["en", "zh"] = "en"
    name: str = Field(description="How the brand is written in running text.")
    handle: str | None = Field(None, description="e.g. '@AcmeAir'; None: use the name.")
    hashtag: str | None = Field(None, description="e.g. '#acmeair'; None: use the name.")
    social_per_hour: float = Field(ge=0)
    news_per_hour: float = Field(0.0, ge=0)
    audience: str = Field("customers", description="Who 'they' are in news copy.")
    utc_offset: Offset | None = Field(None, description="Local time; default: the scenario's.")
    rhythm: Rhythm | None = None
    mix: Mix | None = Field(None, description="Calm sentiment mix; default: the scenario's.")


class Chatter(_Model):
    """Posts that match no watch (some are near misses of a watch's query)."""

    en_per_hour: float = Field(0.0, ge=0)
    zh_per_hour: float = Field(0.0, ge=0)
    zh_utc_offset: Offset = "+08:00"
    near_miss_fraction: Share = 0.05
    near_misses: list[str] = Field(
        default_factory=list, description="Phrases close to a watch query that must not match."
    )


class Burst(_Model):
    """A volume surge with ordinary (or given) sentiment: a mention spike, expected to raise
    a low-severity ``volume`` alert (plus ``negative_volume`` when negatives surge too)."""

    watch: str
    start: Seconds
    duration: Seconds
    multiplier: float = Field(3.0, ge=1)
    mix: Mix | None = None
    phrases: list[str] = Field(default_factory=list)
    phrase_share: Share = 0.3


class Incident(_Model):
    """A scripted incident: the watch's negative share rises to ``negative_share``."""

    name: str
    watch: str
    start: Seconds
    duration: Seconds
    negative_share: Share
    volume_multiplier: float = Field(1.5, ge=0)
    ramp: Seconds = Field(600.0, description="Linear ramp in and out.")
    phrases: list[str] = Field(default_factory=list, description="Appended to negative posts.")
    phrase_share: Share = 0.5


class Reposts(_Model):
    """Exact-text reposts by other authors shortly after the original."""

    fraction: Share = 0.06
    max_copies: int = Field(4, ge=1)
    within: Seconds = 600.0


MalformedKind = Literal[
    "bad_json",
    "non_object",
    "wrong_types",
    "missing_text",
    "empty_text",
    "huge_text",
    "invalid_utf8",
    "empty_value",
    "naive_datetime",
    "bad_source",
]
MALFORMED_KINDS: tuple[MalformedKind, ...] = MalformedKind.__args__  # type: ignore[attr-defined]


class Malformed(_Model):
    """Messages the pipeline must dead-letter, by kind (weights)."""

    fraction: Share = 0.01
    kinds: dict[MalformedKind, float] = Field(
        default_factory=lambda: dict.fromkeys(MALFORMED_KINDS, 1.0)
    )
    huge_text_chars: int = Field(25_000, ge=1, description="Over OPINION_MAX_TEXT_CHARS.")


class Scenario(_Model):
    """A demo feed: timeline, watches' streams, chatter, bursts, incidents, noise."""

    scenario_version: int
    name: str
    description: str = ""
    seed: int
    start: AwareDatetime
    duration: Seconds
    utc_offset: Offset = "+00:00"
    watches_file: str = Field("../watches.yaml", description="Relative to the scenario file.")
    rhythm: Rhythm = Rhythm()
    calm_mix: Mix = Mix(negative=0.28, neutral=0.42, positive=0.30)
    mix_jitter: float = Field(0.03, ge=0, le=0.2, description="Hourly noise on negative share.")
    streams: list[Stream]
    chatter: Chatter = Chatter()
    reposts: Reposts = Reposts()
    malformed: Malformed = Malformed()
    bursts: list[Burst] = Field(default_factory=list)
    incidents: list[Incident] = Field(default_factory=list)
    cross_mention_fraction: Share = Field(0.01, description="Posts that also name another watch.")
    pii_fraction: Share = Field(0.01, description="Posts with an e-mail or phone number.")
    extra_fields_fraction: Share = Field(0.01, description="Posts with unknown extra fields.")
    lang_missing_fraction: Share = Field(0.15, description="Posts without a 'lang' field.")
    authors: int = Field(5000, ge=10, description="Size of the fictional author pool.")
    path: Path | None = Field(None, exclude=True, description="Where it was loaded from.")

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.scenario_version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"scenario_version {self.scenario_version} is not supported "
                f"(this code reads {SUPPORTED_VERSIONS})"
            )
        ids = [s.watch for s in self.streams]
        if len(set(ids)) != len(ids):
            raise ValueError("each watch may have one stream")
        for event in [*self.bursts, *self.incidents]:
            if event.watch not in ids:
                raise ValueError(f"{type(event).__name__} on {event.watch!r}: no such stream")
            if event.start + event.duration > self.duration:
                raise ValueError(f"{type(event).__name__} on {event.watch!r} ends after the end")
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)

    def stream(self, watch: str) -> Stream:
        return next(s for s in self.streams if s.watch == watch)

    def watches_path(self) -> Path:
        base = self.path.parent if self.path else SCENARIO_DIR
        return (base / self.watches_file).resolve()


def scenario_names() -> list[str]:
    """Scenarios shipped with the package."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """A shipped scenario's file by name, or the given path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not shipped.exists():
        raise FileNotFoundError(
            f"no scenario {name_or_path!r}: give a file or one of {', '.join(scenario_names())}"
        )
    return shipped


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario by name (``demo-v1``) or path."""
    path = scenario_path(name_or_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario is a YAML mapping")
    return Scenario.model_validate({**data, "path": path})


def load_watches(scenario: Scenario | None = None) -> list[dict[str, Any]]:
    """The watches the scenario was written for (the raw YAML entries)."""
    path = scenario.watches_path() if scenario else DEFAULT_WATCHES_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["watches"])
