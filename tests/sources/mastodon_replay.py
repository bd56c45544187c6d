"""Helpers for the Mastodon tests: recorded cassettes from ../shared/realdata and a loopback HTTP server.

Mastodon.py sends every request with ``requests`` to the instance URL it is given; the tests configure
instances as ``http://127.0.0.1:<port>`` (:class:`InstanceServer`), which answers from real recorded response
bodies and headers. The client's real request building, rate-limit handling, error mapping and pagination run,
without any network.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bluesky_replay import realdata

__all__ = ["Answer", "InstanceServer", "cassette", "realdata"]


@dataclass
class Recorded:
    method: str
    uri: str
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path


def cassette(*parts: str) -> list[Recorded]:
    """Interactions of a vcr cassette (rtoot's ``http_interactions`` or Mastodon.py's ``interactions``)."""
    import yaml

    data = yaml.safe_load(realdata(*parts).read_text(encoding="utf-8"))
    out = []
    for item in data.get("http_interactions") or data.get("interactions") or []:
        response = item["response"]
        status = response["status"]
        headers = {
            str(k): (v[0] if isinstance(v, list) else str(v))
            for k, v in (response.get("headers") or {}).items()
        }
        out.append(
            Recorded(
                item["request"]["method"],
                item["request"]["uri"],
                int(status["code"] if isinstance(status, dict) else status),
                response["body"]["string"],
                headers,
            )
        )
    return out


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

    @classmethod
    def recorded(cls, rec: Recorded, *, link_base: str | None = None, keep: tuple[str, ...] = ()) -> Answer:
        """A recorded answer: its body, and the headers named in ``keep`` plus its ``Link`` rewritten to
        ``link_base`` (the loopback server) so that the client follows it there."""
        headers = {"content-type": "application/json"}
        lowered = {k.lower(): v for k, v in rec.headers.items()}
        for key in keep:
            if key.lower() in lowered:
                headers[key] = lowered[key.lower()]
        if link_base and "link" in lowered:
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(rec.uri))
            headers["Link"] = lowered["link"].replace(origin, link_base)
        return cls(rec.status, rec.body.encode("utf-8"), headers)


def error(status: int, message: str = "", headers: dict[str, str] | None = None) -> Answer:
    return Answer.json({"error": message or f"HTTP {status}"}, status, headers)


@dataclass
class Route:
    path: str
    answers: list[Answer]
    params: dict[str, str] | None = None
    repeat_last: bool = False
    hits: int = 0


class InstanceServer:
    """Answers GET requests by path (and optional query parameters), in order; an unexpected request answers
    418 and is recorded in :attr:`unexpected` so that the test can fail on it."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.unexpected: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                server.requests.append((url.path, params, dict(self.headers)))
                answer = server.answer_for(url.path, params)
                if any(k.lower() == "date" for k in answer.headers):  # the recorded Date, not today's
                    self.log_request(answer.status)
                    self.send_response_only(answer.status)
                else:
                    self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> InstanceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(
        self, path: str, *answers: Answer, params: dict[str, str] | None = None, repeat_last: bool = False
    ) -> None:
        self.routes.append(Route(path, list(answers), params, repeat_last))

    def answer_for(self, path: str, params: dict[str, str]) -> Answer:
        for route in self.routes:
            if route.path != path or any(params.get(k) != v for k, v in (route.params or {}).items()):
                continue
            if route.hits >= len(route.answers) and not route.repeat_last:
                continue
            route.hits += 1
            return route.answers[min(route.hits, len(route.answers)) - 1]
        self.unexpected.append(f"{path} {params}")
        return error(418, f"unexpected request {path}")

    def calls(self, path: str) -> list[dict[str, str]]:
        return [params for p, params, _h in self.requests if p == path]
