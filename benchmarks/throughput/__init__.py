"""Throughput and latency benchmarks of the scoring path (``opinion bench``, BENCHMARKS.md).

``runner.run_bench`` measures, in one run and with one model: model-only throughput per batch
size (``model``), a naive one-message-at-a-time ``transformers`` pipeline, per-stage CPU
costs, end-to-end throughput through a private embedded broker, worker processes and Redis
(``e2e``), and produce-to-Redis-visible latency at fixed fractions of the measured maximum.
``report`` renders results for the terminal and BENCHMARKS.md.

Nothing is imported here: ``opinion --help`` imports ``benchmarks.throughput.cli``, which must not
pull in torch or transformers (import ``benchmarks.throughput.runner`` where they are needed).
"""
