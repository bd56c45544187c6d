"""Helpers for the Bluesky tests: the shared real-data folder and a loopback XRPC server.

The ``atproto`` SDK sends every request with httpx to the base URL it is given; the source's ``service_url``
and ``appview_url`` settings point it at :class:`XrpcServer`, a ``http.server`` on 127.0.0.1 that answers
from real recorded response bodies. The SDK's real request building, error handling and JSON parsing run,
without any network.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"


def realdata(*parts: str) -> Path:
    """A path inside ../shared/realdata; skips the test when the folder (or the file) is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real recorded data not available: {path}")
    return path


def recorded_json(*parts: str) -> dict[str, Any]:
    return json.loads(realdata(*parts).read_text(encoding="utf-8"))


def vcr_bodies(name: str) -> list[dict[str, Any]]:
    """Response bodies of a bskyr vcr cassette (``bluesky_sdks/bskyr_vcr/<name>.yml``)."""
    import yaml

    cassette = yaml.safe_load(
        realdata("bluesky_sdks", "bskyr_vcr", f"{name}.yml").read_text(encoding="utf-8")
    )
    return [json.loads(i["response"]["body"]["string"]) for i in cassette["http_interactions"]]


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls(
            status, json.dumps(obj).encode("utf-8"), {"content-type": "application/json", **(headers or {})}
        )


def dropped() -> Answer:
    """The server closes the connection without answering."""
    return Answer(0, b"")


def xrpc_error(status: int, error: str, message: str = "", headers: dict[str, str] | None = None) -> Answer:
    return Answer.json({"error": error, "message": message}, status, headers)


@dataclass
class Route:
    nsid: str
    answers: list[Answer]
    params: dict[str, str] | None = None
    repeat_last: bool = False
    hits: int = 0


class XrpcServer:
    """Answers ``/xrpc/<nsid>`` requests from routes, in order; an unexpected request answers 501 and is
    recorded in :attr:`unexpected` so the test can fail on it."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str], bytes]] = []
        self.unexpected: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlsplit(self.path)
                nsid = url.path.removeprefix("/xrpc/")
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, nsid, params, dict(self.headers), body))
                answer = server.answer_for(nsid, params)
                if answer.status == 0:  # the connection drops without an answer
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> XrpcServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(
        self, nsid: str, *answers: Answer, params: dict[str, str] | None = None, repeat_last: bool = False
    ):
        self.routes.append(Route(nsid, list(answers), params, repeat_last))

    def answer_for(self, nsid: str, params: dict[str, str]) -> Answer:
        for route in self.routes:
            if route.nsid != nsid or any(params.get(k) != v for k, v in (route.params or {}).items()):
                continue
            if route.hits >= len(route.answers) and not route.repeat_last:
                continue
            answer = route.answers[min(route.hits, len(route.answers) - 1)]
            route.hits += 1
            return answer
        self.unexpected.append(f"{nsid} {params}")
        return xrpc_error(501, "MethodNotImplemented", f"unexpected request {nsid}")

    def calls(self, nsid: str) -> list[dict[str, str]]:
        return [params for _m, n, params, _h, _b in self.requests if n == nsid]
