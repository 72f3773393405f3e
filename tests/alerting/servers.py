"""Test doubles that are real servers: an HTTP receiver and a minimal SMTP server (127.0.0.1)."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.schemas import Alert
from tests.aggregation.factories import T0


@dataclass(frozen=True)
class Request:
    """One POST the receiver answered."""

    status: int
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


class Receiver:
    """Records POSTed JSON bodies; answers ``status`` (settable) to each.

    ``fail_for_s``: answer ``fail_status`` for that many seconds from the first request, then
    ``status``. ``delay_s``: wait that long before answering. ``requests`` records every
    request with its answer; ``bodies``/``headers`` only the accepted (< 300) ones.
    """

    def __init__(
        self, *, fail_for_s: float = 0.0, fail_status: int = 503, delay_s: float = 0.0
    ) -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.requests: list[Request] = []
        self.status = 200
        self.hits = 0
        self.fail_for_s, self.fail_status, self.delay_s = fail_for_s, fail_status, delay_s
        self.first_at: float | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay_s)
                status = receiver.answer(raw, dict(self.headers))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, raw: bytes, headers: dict[str, str]) -> int:
        """Record one request; the status to answer it with."""
        with self._lock:
            now = time.monotonic()
            self.first_at = now if self.first_at is None else self.first_at
            failing = now - self.first_at < self.fail_for_s
            status = self.fail_status if failing else self.status
            self.hits += 1
            self.requests.append(Request(status, headers, raw, now))
            if status < 300:
                self.bodies.append(json.loads(raw))
                self.headers.append(headers)
        return status

    def accepted_keys(self) -> list[str]:
        """``Idempotency-Key`` of every accepted request, in order."""
        return [r.headers.get("Idempotency-Key", "") for r in self.requests if r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SMTPHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 test ready")
        data: list[str] = []
        while line := self.rfile.readline():
            cmd = line.decode().strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb == "DATA":
                self._say("354 go ahead")
                while (body := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(body.decode())
                self.server.messages.append("".join(data))  # type: ignore[attr-defined]
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self._say("250 ok")


def sample_alert(alert_id: str = "acme-20260302T011000Z", watch: str = "acme") -> Alert:
    return Alert(
        id=alert_id,
        watch_id=watch,
        watch_name="Acme Air",
        severity="high",
        score=0.9,
        window_start=T0 + timedelta(minutes=70),
        window_end=T0 + timedelta(minutes=72),
        negative_share=0.82,
        baseline_share=0.3,
        volume=41,
        top_terms=["refund", "outage"],
        sample_posts=[{"id": "p1", "text": "my [PERSON] refund never came"}],
        dashboard_url=f"http://localhost:8501/?watch={watch}&alert={alert_id}",
    )
