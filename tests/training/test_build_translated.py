"""The non-training parts of the translated-tweet build: Apertium check, cache, data mixing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.build_translated import (
    ApertiumMissing,
    check_apertium,
    choose_grouped_fusion_weight,
    hold_out,
    mix_one_to_one,
    translate_cached,
    translated_umsab,
)

ALL_MODES = {"spa-eng", "fr-es", "pt-es", "ita-spa"}


def test_check_apertium_passes_when_everything_is_installed() -> None:
    check_apertium(which=lambda tool: f"/usr/bin/{tool}", available=lambda: ALL_MODES)


def test_check_apertium_names_the_missing_packages_in_one_line() -> None:
    with pytest.raises(ApertiumMissing) as err:
        check_apertium(
            which=lambda tool: None if tool == "cg-proc" else "/usr/bin/x",
            available=lambda: {"spa-eng", "fr-es"},
        )
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install -y cg3 apertium-es-pt apertium-spa-ita" in message


def test_check_apertium_without_apertium_lists_every_package() -> None:
    with pytest.raises(ApertiumMissing, match="apt-get install -y apertium cg3 apertium-eng-spa"):
        check_apertium(which=lambda tool: None, available=set)


def test_translate_cached_translates_each_text_once(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake(texts: list[str]) -> list[str]:
        calls.append(list(texts))
        return [t.upper() for t in texts]

    assert translate_cached(["hola", "adios", "hola"], "es-en", fake, tmp_path, chunk=1) == [
        "HOLA",
        "ADIOS",
        "HOLA",
    ]
    assert calls == [["hola"], ["adios"]]
    rows = [json.loads(x) for x in (tmp_path / "es-en.jsonl").read_text().splitlines()]
    assert rows == [{"src": "hola", "en": "HOLA"}, {"src": "adios", "en": "ADIOS"}]
    calls.clear()
    assert translate_cached(["adios", "gracias"], "es-en", fake, tmp_path) == ["ADIOS", "GRACIAS"]
    assert calls == [["gracias"]]  # the cache answered the rest


def test_hold_out_is_seeded_and_disjoint() -> None:
    pairs = [(f"t{i}", i % 3) for i in range(20)]
    train, held = hold_out(pairs, 5)
    assert len(held) == 5 and len(train) == 15
    assert not {t for t, _ in train} & {t for t, _ in held}
    assert hold_out(pairs, 5) == (train, held)


def test_mix_one_to_one_samples_as_many_registry_texts() -> None:
    translated = [(f"tr {i}", 1) for i in range(10)]
    registry = [(f"reg {i}", 0) for i in range(100)] + [("TR 3", 2)]
    mixed = mix_one_to_one(translated, registry)
    assert sum(t.startswith("tr") for t, _ in mixed) == 10
    assert sum(t.startswith("reg") for t, _ in mixed) in (9, 10)  # "TR 3" may be a duplicate
    assert len({t.lower() for t, _ in mixed}) == len(mixed)
    assert mix_one_to_one(translated, registry) == mixed


def test_translated_umsab_decontaminates_sources_and_translations(tmp_path: Path) -> None:
    from training.decontam import EvalIndex

    leaked_source = "una frase de validacion que no debe entrar nunca en el entrenamiento"
    leaked_translation = "a validation sentence that must never get into training data at all"
    index = EvalIndex.from_texts({"umsab/spanish/val": [leaked_source, leaked_translation]})
    texts = {
        "es": [leaked_source, "me gusta mucho este dia de sol en la playa", "odio los lunes"],
    }
    for iso in ("fr", "pt"):
        texts[iso] = ["bonjour tout le monde", "quel plaisir de vous voir ici"]
    texts["it"] = ["che bella giornata di sole oggi"]
    folders = {"es": "spanish", "fr": "french", "pt": "portuguese", "it": "italian"}
    for iso, folder in folders.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train_text.txt").write_text("\n".join(texts[iso]) + "\n")
        (tmp_path / folder / "train_labels.txt").write_text(
            "\n".join(str(i % 3) for i in range(len(texts[iso]))) + "\n"
        )

    def fake(texts: list[str]) -> list[str]:
        return [leaked_translation if "odio" in t else f"en: {t}" for t in texts]

    out, records = translated_umsab(
        tmp_path,
        index,
        translators=dict.fromkeys(folders, fake),
        cache_dir=tmp_path / "cache",
    )
    assert out["es"] == [("en: me gusta mucho este dia de sol en la playa", 1)]
    assert len(out["it"]) == 1 and len(out["fr"]) == 2
    by_corpus = {r["corpus"]: r for r in records}
    assert by_corpus["umsab-es-train"]["removed"] == 1
    assert by_corpus["umsab-es-train-translated"]["removed"] == 1
    assert by_corpus["umsab-fr-train"]["removed"] == 0


def test_grouped_fusion_weight_counts_each_group_the_same() -> None:
    probs = np.array([[0.1, 0.8, 0.1]] * 4)
    compounds = [-0.9, 0.9, -0.9, 0.9]
    gold = [0, 2, 0, 2]
    weight, table = choose_grouped_fusion_weight(probs, compounds, gold, [0, 0, 1, 1])
    assert weight > 0.3  # the lexicon is right, the model is not
    assert set(table) >= {"0.00", "0.40"}
