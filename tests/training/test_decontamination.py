"""No training text of a bundled model is an evaluation text, and the matcher that says so."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pipeline.model import BUNDLED_DIR
from pipeline.model.card import ModelCard
from training.corpora import shared_data_dir
from training.decontam import (
    MANIFEST_HEX,
    ContaminationError,
    EvalIndex,
    build_index,
    decontaminate,
    keys,
    manifest_overlap,
    read_manifest,
    write_manifest,
)

BUNDLED = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "model_card.json").is_file())
# Known, reported, not rebuilt (a 48-minute build): four one-word English tweets
# ("Absolutely", "@user absolutely", ...) are, normalised, a UMSAB Hindi validation tweet.
KNOWN = {"en": {"umsab/hindi/val": 1}, "en-fast": {"umsab/hindi/val": 1}}

REVIEW = (
    "这家酒店的服务非常好，房间干净整洁，早餐种类丰富，下次出差还会选择入住这里，强烈推荐给大家"
)
TWEET = (
    "Can't wait for the new Star Wars movie on Friday with my best friends, it is going to be epic"
)


@pytest.fixture(scope="module")
def index() -> EvalIndex:
    """Every evaluation split, read from ../shared when present, else the committed index."""
    shared = shared_data_dir()
    return build_index(shared) if shared else EvalIndex.load()


@pytest.fixture(scope="module")
def toy() -> EvalIndex:
    return EvalIndex.from_texts({"zh/dev": [REVIEW], "en/val": [TWEET, "so happy today"]})


def test_committed_index_matches_the_evaluation_data(index: EvalIndex) -> None:
    if shared_data_dir() is None:
        pytest.skip("no ../shared/data beside the checkout")
    committed = EvalIndex.load()
    shared = build_index(shared_data_dir(), project_dir=None)  # type: ignore[arg-type]
    assert {k: committed.splits[k] for k in shared.splits} == shared.splits, (
        "run `python -m training.decontam --write`"
    )
    assert {"chnsenticorp/dev", "chnsenticorp/test", "tweeteval/val"} <= set(committed.splits)
    assert sum(name.startswith("umsab/") for name in committed.splits) >= 8


@pytest.mark.parametrize("model", BUNDLED)
def test_no_bundled_model_trained_on_an_evaluation_text(model: str, index: EvalIndex) -> None:
    overlap = manifest_overlap(read_manifest(model), index)
    assert overlap == KNOWN.get(model, {}), f"{model} training texts in evaluation splits"


def test_the_manifest_check_fails_on_one_evaluation_text(tmp_path: Path) -> None:
    """The test above can fail: a clean manifest plus one evaluation text is caught."""
    index = EvalIndex.from_texts({"tweeteval/val": [TWEET]})
    write_manifest("demo", ["an unrelated training text", "another one"], tmp_path)
    assert manifest_overlap(read_manifest("demo", tmp_path), index) == {}
    write_manifest("demo", ["an unrelated training text", TWEET.upper() + "!!"], tmp_path)
    # its whole text, head and tail
    assert manifest_overlap(read_manifest("demo", tmp_path), index) == {"tweeteval/val": 3}


def test_manifests_hold_no_text_and_are_deterministic(tmp_path: Path) -> None:
    first = write_manifest("m", [REVIEW, TWEET], tmp_path).read_bytes()
    assert write_manifest("m", [TWEET, REVIEW], tmp_path).read_bytes() == first
    lines = gzip.decompress(first).decode().split()
    assert len(lines) == 6 and all(len(k) == MANIFEST_HEX for k in lines)


@pytest.mark.parametrize(
    "variant",
    [
        TWEET.lower(),
        TWEET.upper(),
        "  " + TWEET.replace(" ", "   ") + "\n",  # spacing
        TWEET.replace(",", "").replace("'", "’") + "!!!",  # punctuation
        "@someone " + TWEET + " https://t.co/abc123",  # handle and link added
        "RT @news: " + TWEET,  # edited head: the tail still matches
        TWEET + " (via @paper) #StarWars lol see you all there at the cinema",  # edited tail
        "Ｃａｎ'ｔ ｗａｉｔ" + TWEET[10:],  # full-width characters
        TWEET + " ❤️",  # emoji with a variation selector
    ],
)
def test_matcher_catches_variants(variant: str, toy: EvalIndex) -> None:
    assert toy.matches(variant) == ["en/val"]


@pytest.mark.parametrize(
    "variant",
    [
        REVIEW + "。",
        REVIEW.replace("，", " "),
        "转发：" + REVIEW[3:],  # edited head
        REVIEW[:30] + "，总之很满意",  # edited tail
        "ＸＸ" + REVIEW,  # full width head: tail matches
    ],
)
def test_matcher_catches_chinese_variants(variant: str, toy: EvalIndex) -> None:
    assert toy.matches(variant) == ["zh/dev"]


@pytest.mark.parametrize(
    "text",
    [
        "Can't wait for the weekend",
        "so happy",  # a prefix of an evaluation text is another text
        "The new Star Wars trailer is out and I am not impressed at all, what a letdown",
        "这家酒店的服务很差",
        "房间干净整洁",
        "",
    ],
)
def test_matcher_keeps_unrelated_texts(text: str, toy: EvalIndex) -> None:
    assert toy.matches(text) == []


def test_decontaminate_counts_per_split_and_assert_clean(toy: EvalIndex) -> None:
    texts = ["fine", TWEET + "!", "SO HAPPY TODAY", REVIEW]
    kept, labels, removed = decontaminate(texts, [0, 1, 2, 3], corpus="c", index=toy)
    assert (kept, labels) == (["fine"], [0])
    assert removed.as_dict() == {
        "corpus": "c",
        "removed": 3,
        "kept": 1,
        "per_split": {"en/val": 2, "zh/dev": 1},
    }
    toy.assert_clean(kept, corpus="c")
    with pytest.raises(ContaminationError, match="decontaminate"):
        toy.assert_clean(texts, corpus="c")


def test_boilerplate_heads_are_not_keys() -> None:
    footer = "欢迎您再次光临本酒店，我们将竭诚为您提供更加优质的服务，祝您生活愉快"
    evals = [f"第{i}位客人说房间很好。" + footer for i in range(3)]
    index = EvalIndex.from_texts({"dev": evals})
    assert index.matches("早餐很难吃，服务员态度也不好。" + footer) == []
    assert index.matches(evals[0]) == ["dev"]


def test_keys_hold_no_text() -> None:
    assert all(len(k) == 16 and REVIEW[:4] not in k for k in keys(REVIEW))


def test_project_check_sets_are_indexed(tmp_path: Path) -> None:
    (tmp_path / "zh_check.tsv").write_text("label\ttext\n1\t今天地铁二号线延误十分钟\n")
    index = EvalIndex.load(project_dir=tmp_path)
    assert index.matches("今天地铁二号线延误十分钟！") == ["project/zh_check"]


def test_cards_record_decontamination() -> None:
    for model in ("zh", "multi"):
        card = ModelCard.load(BUNDLED_DIR / model)
        assert card is not None and card.decontamination, f"{model}: rebuild it"
    old = ModelCard.model_validate({"version": "v"})
    assert old.decontamination is None  # cards from before the check still load


def test_vetting_drops_labels_on_evaluation_texts() -> None:
    from datetime import UTC, datetime

    import pandas as pd

    from training.settings import TrainingSettings
    from training.vetting import vet_labels

    now = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "post_id": ["a", "b"],
            "text": [TWEET.lower(), "a post nobody evaluates on"],
            "label": ["positive", "negative"],
            "labeled_by": ["ana", "ana"],
            "labeled_at": pd.to_datetime([now, now]),
            "lang": ["en", "en"],
            "signature": ["", ""],
        }
    )
    settings = TrainingSettings(_env_file=None)  # type: ignore[call-arg]
    index = EvalIndex.from_texts({"tweeteval/val": [TWEET]})
    vetted = vet_labels(frame, settings, accept_unsigned=True, now=now, eval_index=index)
    assert vetted.dropped["eval_overlap"] == 1
    assert list(vetted.frame["post_id"]) == ["b"]
