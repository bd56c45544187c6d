"""Helpers for the X tests: the shared real-data folder and HTTP replay at the ``requests`` adapter layer.

tweepy sends every request through one ``requests`` client object; :class:`XSource` accepts a replacement as
its ``http`` setting. Mounting :class:`ReplayAdapter` on it answers each request from recorded responses, so
tweepy's real request building, status handling and JSON parsing run, and urllib3 really decodes gzip bodies,
without any network. Recorded bodies come from:

* tweepy's own vcrpy cassettes (``twitter_tweepy/*.yaml``, some bodies gzip bytes stored as YAML
  ``!!binary``);
* real v2 response pages recorded by twarc / academictwitteR (served as the body of the matching request).
"""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"


def realdata(*parts: str) -> Path:
    """A path inside ../shared/realdata; skips the test when the folder (or the file) is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real recorded data not available: {path}")
    return path


def twarc_pages(name: str) -> list[dict[str, Any]]:
    """The response pages of a twarc2 JSONL file (``twitter_twarc_csv/<name>.jsonl``)."""
    path = realdata("twitter_twarc_csv", f"{name}.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def as_api_body(page: dict[str, Any]) -> dict[str, Any]:
    """A twarc page as the API sent it (twarc adds ``__twarc`` after receiving it)."""
    return {k: v for k, v in page.items() if k != "__twarc"}


def spec_links(tweets: list[dict[str, Any]]) -> dict[str, tuple]:
    """(kind, share_type, parent_id, shared_id) per tweet, straight from the rules of the issue."""
    out = {}
    for t in tweets:
        refs = {r["type"]: "x:" + r["id"] for r in t.get("referenced_tweets", [])}
        if "retweeted" in refs:
            out["x:" + t["id"]] = ("share", "retweet", None, refs["retweeted"])
        elif "replied_to" in refs:
            out["x:" + t["id"]] = (
                "comment",
                "quote" if "quoted" in refs else None,
                refs["replied_to"],
                refs.get("quoted"),
            )
        elif "quoted" in refs:
            out["x:" + t["id"]] = ("share", "quote", None, refs["quoted"])
        else:
            out["x:" + t["id"]] = ("post", None, None, None)
    return out


@dataclass
class Recorded:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None, gzipped: bool = False):
        body = json.dumps(obj).encode("utf-8")
        hdrs = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        if gzipped:
            body = gzip.compress(body)
            hdrs["content-encoding"] = "gzip"
        return cls(status, body, hdrs)


def load_cassette(path: Path) -> list[tuple[str, str, Recorded]]:
    """(method, uri, response) of every interaction of a vcrpy YAML cassette, bodies byte-exact."""
    import yaml

    cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for interaction in cassette["interactions"]:
        response = interaction["response"]
        body = response["body"]["string"]
        headers = {
            k.lower(): ", ".join(v) if isinstance(v, list) else str(v) for k, v in response["headers"].items()
        }
        headers.pop("content-length", None)
        if isinstance(body, str):
            body = body.encode("utf-8")
            # recorded after decoding (aiohttp): the bytes are plain even if the header still says gzip
            headers.pop("content-encoding", None)
        elif body[:2] != b"\x1f\x8b":
            headers.pop("content-encoding", None)
        status = response["status"]
        recorded = Recorded(int(status["code"]), body, headers, status.get("message", ""))
        out.append((interaction["request"]["method"], interaction["request"]["uri"], recorded))
    return out


def cassette_response(name: str, index: int = 0) -> Recorded:
    return load_cassette(realdata("twitter_tweepy", name))[index][2]


@dataclass
class Route:
    method: str
    path: str  # a regular expression matched against the whole URL path
    responses: list[Recorded]
    params: dict[str, str] | None = None  # query parameters that must be present with these values
    repeat_last: bool = False
    hits: int = 0

    def matches(self, method: str, path: str, params: dict[str, str]) -> bool:
        if method != self.method or not re.fullmatch(self.path, path):
            return False
        return all(params.get(k) == v for k, v in (self.params or {}).items())


class ReplayAdapter(BaseAdapter):
    """Answers requests from :class:`Route` s, in order; an unexpected request fails the test loudly."""

    def __init__(self, routes: list[Route] | None = None, fail_after: int | None = None):
        super().__init__()
        self.routes: list[Route] = list(routes or [])
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.fail_after = fail_after

    def add(
        self,
        method: str,
        path: str,
        *responses: Recorded,
        params: dict[str, str] | None = None,
        repeat_last: bool = False,
    ) -> Route:
        route = Route(method, path, list(responses), params, repeat_last)
        self.routes.append(route)
        return route

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(request.url or "")
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.fail_after is not None and len(self.requests) >= self.fail_after:
            raise KeyboardInterrupt("simulated kill of the nightly run")
        self.requests.append((request.method or "", url.path, params, dict(request.headers)))
        for route in self.routes:
            if not route.matches(request.method or "", url.path, params):
                continue
            if route.hits >= len(route.responses) and not route.repeat_last:
                continue
            recorded = route.responses[min(route.hits, len(route.responses) - 1)]
            route.hits += 1
            raw = urllib3.HTTPResponse(
                body=io.BytesIO(recorded.body),
                headers=recorded.headers,
                status=recorded.status,
                reason=recorded.reason,
                preload_content=False,
                decode_content=True,
            )
            return HTTPAdapter().build_response(request, raw)
        raise AssertionError(f"unexpected request: {request.method} {url.path} {params}")

    def close(self) -> None:
        pass

    def http(self) -> requests.Session:
        """A ``requests`` client whose every request is answered by this adapter."""
        client = requests.Session()
        client.mount("https://", self)
        client.mount("http://", self)
        return client

    def calls(self, path_pattern: str) -> list[dict[str, str]]:
        return [params for _m, path, params, _h in self.requests if re.fullmatch(path_pattern, path)]


def end_of_results() -> Recorded:
    """What search returns when there is nothing (more) to return: no data, result_count 0."""
    return Recorded.json({"meta": {"result_count": 0}})
