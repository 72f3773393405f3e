"""In-process measurements: model-only throughput, the naive baseline, per-stage costs.

*Model-only* is the models the worker calls for an English post: the transformer
(``TransformerClassifier.predict_proba``: tokenise, length-sort, dynamically padded forward
passes, softmax) and, when the English card pools it, the multilingual model
(``EncoderHeadClassifier.predict_proba``), on the worker's own texts (cleaned and masked by
``ingest.prepare``), one call per batch of ``b`` texts, as the worker makes them. *Naive* is
what simple Kafka sentiment demos do: a ``transformers`` text-classification pipeline called
once per message, with the same weights (fp32, or int8 when the option under test is int8)
and the same truncation (plus the multilingual model on that message, when pooled).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from benchmarks.throughput.corpus import BenchPost, render, watch_set
from pipeline.aggregation.plans import Plans
from pipeline.config import Settings
from pipeline.model.encoder_head import EncoderHeadClassifier
from pipeline.model.lexicon import lexicon_for
from pipeline.model.sentence_encoder import load_encoder
from pipeline.model.transformer import TransformerClassifier, load_checkpoint, quantize_int8
from pipeline.model.types import SentimentScorer
from pipeline.schemas import parse_post
from pipeline.worker.batch import BatchProcessor, RawMessage
from pipeline.worker.ingest import prepare


def rate(call: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int) -> float:
    """Messages/s of ``call`` over ``texts`` in chunks of ``batch`` (after one warm-up call)."""
    call(texts[:batch])
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        call(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def cpu_ms_per_msg(
    call: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int
) -> float:
    """CPU milliseconds (all threads of this process) per message of ``call``."""
    call(texts[:batch])
    started = time.process_time()
    for i in range(0, len(texts), batch):
        call(texts[i : i + batch])
    return (time.process_time() - started) / len(texts) * 1000


def with_threads(threads: int, fn: Callable[..., float], *args: Any) -> float:
    """``fn(*args)`` with torch's intra-op threads set to ``threads``, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before)


def pooled_predict(
    model: TransformerClassifier, second: EncoderHeadClassifier | None
) -> Callable[[Sequence[str]], object]:
    """The English route's model calls for a batch: the transformer, then the pooled model."""
    if second is None:
        return model.predict_proba
    return lambda texts: (model.predict_proba(texts), second.predict_proba(texts))


def second_model(head_dir: Path | None, encoder: Path | None) -> EncoderHeadClassifier | None:
    """The pooled multilingual model (or None), e.g. in a child process."""
    if head_dir is None or encoder is None:
        return None
    return EncoderHeadClassifier(head_dir, load_encoder(encoder))


def model_only(
    model: TransformerClassifier,
    texts: Sequence[str],
    batch_sizes: Sequence[int],
    *,
    second: EncoderHeadClassifier | None = None,
    budget_texts: int = 512,
) -> dict[str, float]:
    """Messages/s per batch size (calls of ``b`` texts, forward passes of ``b``); small
    batches run on fewer texts (the per-text work is the same)."""
    out = {}
    configured = model.batch_size
    predict = pooled_predict(model, second)
    try:
        for b in batch_sizes:
            model.batch_size = b
            n = min(len(texts), max(b * 4, min(budget_texts, 64 * b)))
            out[str(b)] = round(rate(predict, texts[:n], b), 1)
    finally:
        model.batch_size = configured
    return out


def naive(
    model: TransformerClassifier,
    texts: Sequence[str],
    second: EncoderHeadClassifier | None = None,
) -> float:
    """Messages/s of a ``transformers`` pipeline called once per message."""
    from transformers import pipeline

    weights = load_checkpoint(model.model_dir).eval()
    if model.quantized:
        weights = cast(Any, quantize_int8(weights))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = pipeline(
            "text-classification",
            model=weights,
            tokenizer=model.tokenizer,
            device=model.device,
            top_k=None,
        )
    pipe(texts[0], truncation=True, max_length=model.max_len)
    started = time.perf_counter()
    for text in texts:
        pipe(text, truncation=True, max_length=model.max_len)
        if second is not None:
            second.predict_proba([text])
    return len(texts) / (time.perf_counter() - started)


def stage_costs(
    posts: Sequence[BenchPost], scorer: SentimentScorer, settings: Settings
) -> dict[str, float]:
    """Microseconds of CPU per message of each non-model step of the worker's hot path."""
    watches, salt = watch_set(), b"bench"
    raw = [render(p, f"s{i}", time.time()) for i, p in enumerate(posts)]
    n = len(raw)
    out: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = fn()
        out[name] = round((time.process_time() - started) / n * 1e6, 1)
        return result

    limits = {"max_bytes": settings.max_message_bytes, "max_text_chars": settings.max_text_chars}
    timed("parse_validate_us", lambda: [parse_post(r, **limits) for r in raw])
    prepared = timed(
        "ingest_total_us",
        lambda: [prepare(r, settings=settings, watches=watches, salt=salt) for r in raw],
    )
    texts = [p.text for p in prepared]
    vader = lexicon_for("en")
    assert vader is not None
    timed("vader_us", lambda: [vader.analyze(t) for t in texts])
    preds = scorer.predict(texts, [p.lang for p in prepared])
    processor = BatchProcessor(
        settings,
        model=cast(Any, None),
        guard=cast(Any, None),
        aggregates=cast(Any, None),
        watches=cast(Any, None),
    )
    msgs = [RawMessage(value=r, topic="t", partition=0, offset=i) for i, r in enumerate(raw)]
    scored = timed(
        "scored_event_us",
        lambda: [
            processor._scored(m, p, pr, scorer.version)
            for m, p, pr in zip(msgs, prepared, preds, strict=True)
        ],
    )
    timed("serialise_json_us", lambda: [s.to_bytes() for s in scored])
    plans = Plans(settings)
    timed(
        "aggregation_plan_us", lambda: [plans.record(scored[i : i + 64]) for i in range(0, n, 64)]
    )
    return out


def _parallel_child(
    spec: dict[str, Any],
    texts: list[str],
    batch: int,
    seconds: float,
    barrier: Any,
    out: Any,
    release: Any,
) -> None:
    """One model process of ``model_only_parallel`` (``spec["num_threads"]`` threads)."""
    from pipeline.model.transformer import TransformerClassifier

    head_dir, encoder = spec.pop("second_head"), spec.pop("second_encoder")
    model = TransformerClassifier(**spec)
    predict = pooled_predict(model, second_model(head_dir, encoder))
    predict(texts[:batch])
    barrier.wait()
    started = time.perf_counter()
    done, i = 0, 0
    while time.perf_counter() - started < seconds:
        chunk = [texts[(i + k) % len(texts)] for k in range(batch)]
        predict(chunk)
        done += batch
        i += batch
    out.put((done, time.perf_counter() - started, os.getpid()))
    release.wait(600)  # stay alive until the parent has read our CPU time


def model_only_parallel(
    model: TransformerClassifier,
    texts: list[str],
    batch: int,
    processes: int,
    seconds: float,
    *,
    threads: int = 1,
    second: EncoderHeadClassifier | None = None,
) -> tuple[float, float | None]:
    """Aggregate messages/s of ``processes`` model processes with ``threads`` torch threads
    each, running at once (how that many workers share the cores), and the cores used by
    other processes meanwhile."""
    import multiprocessing

    from benchmarks.throughput.load import ForeignLoad

    spec = {
        "model_dir": model.model_dir,
        "device": "cpu",
        "max_len": model.max_len,
        "batch_size": model.batch_size,
        "card": model.card,
        "quantize": "int8" if model.quantized else "none",
        "num_threads": threads,
        "second_head": second.model_dir if second else None,
        "second_encoder": second.encoder.path if second else None,
    }
    ctx = multiprocessing.get_context("spawn")
    barrier, out, release = ctx.Barrier(processes + 1), ctx.Queue(), ctx.Event()
    args = (spec, texts, batch, seconds, barrier, out, release)
    procs = [ctx.Process(target=_parallel_child, args=args) for _ in range(processes)]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=300)
        meter = ForeignLoad(p.pid for p in procs if p.pid).start()
        results = [out.get(timeout=seconds + 300) for _ in procs]
        foreign = meter.cores()
    finally:
        release.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    return sum(n / s for n, s, _ in results), foreign
