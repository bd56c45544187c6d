"""A loopback Reddit that replays PRAW's recorded betamax cassettes, for connector tests.

The server listens on 127.0.0.1 (port 0) in a thread and answers the way reddit.com did when the cassettes
were recorded: a request is matched on its method, path and the parameters that pick the content (``id`` of
/api/info, ``after`` of listings, the ``children`` of /api/morechildren as a set); the recorded body is
returned verbatim. Every token request gets the recorded token reply. Anything unknown gets Reddit's 404
body.

Two things are added for tests, and only when asked for:

* ``synthesize_threads``: a thread that was listed in a replayed listing but never recorded is answered with
  that submission's listed JSON and an empty comment listing (the shape /comments/<id> has for a thread
  without comments), and a listing page after the recorded one is empty (the end of the listing), so a
  nightly run over a real listing can be exercised end to end;
* ``fault``: a hook that may turn a request into a 500, 401, dropped connection, delay or malformed body.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_BODY = '{"access_token": "<ACCESS_TOKEN>", "expires_in": 3600, "scope": "*", "token_type": "bearer"}'
NOT_FOUND = '{"message": "Not Found", "error": 404}'
SELECTING_PARAMS = ("id", "after", "q")


def _norm_path(path: str) -> str:
    return path.rstrip("/").lower() or "/"


def request_key(method: str, path: str, query: dict[str, list[str]], form: dict[str, list[str]]) -> tuple:
    """What identifies a recorded response: method, path and the parameters that select content."""
    selectors: list[tuple[str, Any]] = []
    for name in SELECTING_PARAMS:
        if name in query:
            selectors.append((name, query[name][0]))
    if "children" in form:
        selectors.append(("children", frozenset(form["children"][0].split(","))))
    return (method.upper(), _norm_path(path), tuple(selectors))


def load_cassette(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["interactions"]


def interaction_key(interaction: dict[str, Any]) -> tuple:
    request = interaction["request"]
    parts = urlsplit(request["uri"])
    body = request.get("body") or {}
    body_text = body.get("string", "") if isinstance(body, dict) else str(body or "")
    return request_key(request["method"], parts.path, parse_qs(parts.query), parse_qs(body_text or ""))


def cassette_bodies(path: Path) -> list[tuple[dict[str, Any], Any]]:
    """(request, parsed JSON body) of every non-token interaction of a cassette."""
    out = []
    for interaction in load_cassette(path):
        if "access_token" in interaction["request"]["uri"]:
            continue
        out.append((interaction["request"], json.loads(interaction["response"]["body"]["string"])))
    return out


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]


@dataclass
class ReplayServer:
    cassettes: Iterable[Path]
    synthesize_threads: bool = False
    # fault(seen, attempt_number_for_this_path) -> None or one of "500", "401", "403", "drop", "badjson",
    # ("delay", seconds)
    fault: Callable[[Seen, int], Any] | None = None
    responses: dict[tuple, tuple[int, str]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    listed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cassette in self.cassettes:
            for interaction in load_cassette(cassette):
                if "access_token" in interaction["request"]["uri"]:
                    continue
                response = interaction["response"]
                key = interaction_key(interaction)
                self.responses.setdefault(key, (response["status"]["code"], response["body"]["string"]))
                if self.synthesize_threads:
                    self._remember_listed(response["body"]["string"])
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None

    def _remember_listed(self, body: str) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("kind") == "Listing":
            for thing in data["data"]["children"]:
                if thing.get("kind") == "t3":
                    self.listed[thing["data"]["id"]] = thing

    # --------------------------------------------------------------------------------------------- serving
    def answer(self, seen: Seen) -> tuple[int, str, dict[str, str]] | str | tuple[str, float]:
        with self._lock:
            self.requests.append(seen)
            self._counts[seen.path] += 1
            attempt = self._counts[seen.path]
        if self.fault is not None:
            action = self.fault(seen, attempt)
            if action == "drop":
                return "drop"
            if isinstance(action, tuple) and action[0] == "delay":
                time.sleep(action[1])
            elif action == "500":
                return 500, '{"message": "Internal Server Error", "error": 500}', {}
            elif action in ("401", "403"):
                headers = {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'}
                return int(action), f'{{"message": "Unauthorized", "error": {action}}}', headers
            elif action == "badjson":
                return 200, '{"kind": "Listing", "data": {"children": [', {}
        if seen.path.endswith("/api/v1/access_token"):
            return 200, TOKEN_BODY, {}
        key = request_key(seen.method, seen.path, seen.query, seen.form)
        if key in self.responses:
            status, body = self.responses[key]
            return status, body, {}
        parts = _norm_path(seen.path).split("/")
        if self.synthesize_threads and len(parts) == 3 and parts[1] == "comments" and parts[2] in self.listed:
            thread = [
                {
                    "kind": "Listing",
                    "data": {"children": [self.listed[parts[2]]], "after": None, "before": None},
                },
                {"kind": "Listing", "data": {"children": [], "after": None, "before": None}},
            ]
            return 200, json.dumps(thread), {}
        if self.synthesize_threads and "after" in seen.query and seen.method == "GET":
            # paging past the recorded page: the end of the listing
            return 200, json.dumps({"kind": "Listing", "data": {"children": [], "after": None}}), {}
        return 404, NOT_FOUND, {}

    def start(self) -> ReplayServer:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                seen = Seen(self.command, parts.path, parse_qs(parts.query), parse_qs(body))
                result = replay.answer(seen)
                if result == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, text, headers = result  # type: ignore[misc]
                payload = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and hung up is what the fault tests ask for

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for s in self.requests if s.method == method and s.path.startswith(path_prefix))

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def credentials_for(server: ReplayServer, **extra: Any) -> dict[str, Any]:
    """PRAW settings that point the real client at the loopback server (as an Airflow connection would)."""
    return {
        "client_id": "ripple-test-client",
        "client_secret": "s3cret-never-logged",
        "user_agent": "ripple connector tests",
        "oauth_url": server.url,
        "reddit_url": server.url,
        "timeout": 5,
        **extra,
    }
