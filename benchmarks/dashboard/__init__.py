"""Browser benchmarks of the dashboard (``python -m benchmarks.dashboard.concurrency``)."""
