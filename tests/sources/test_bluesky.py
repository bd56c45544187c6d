"""The live Bluesky source, replayed from real recorded responses through the real atproto client at a
loopback XRPC server (no network)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from bluesky_replay import Answer, XrpcServer, dropped, recorded_json, vcr_bodies, xrpc_error

from pipeline import lake
from pipeline.config import load_settings
from pipeline.errors import ConfigError, SourceError
from pipeline.sources.base import Window
from pipeline.sources.bluesky import BlueskySource, permalink, tid_time, to_at_uri

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 7, 20, 12, 0, tzinfo=UTC).timestamp()
POST = "app.bsky.feed.post"


@pytest.fixture
def server():
    with XrpcServer() as srv:
        yield srv
    assert not srv.unexpected, f"unexpected requests: {srv.unexpected}"


@pytest.fixture
def make_settings(tmp_path, monkeypatch, server):
    monkeypatch.chdir(tmp_path)
    for name in ("RIPPLE_BLUESKY_HANDLE", "RIPPLE_BLUESKY_APP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)

    def make(**values: Any):
        section = {"service_url": server.url, "appview_url": server.url, "max_roots": 0, **values}
        return load_settings(data_dir=tmp_path / "data", overrides={"bluesky": section}, environ={})

    return make


def run(settings, window=None, *, threads=None, credentials=None, sleeps=None):
    sleeps = [] if sleeps is None else sleeps
    source = BlueskySource(settings, sleep=sleeps.append, clock=lambda: NOW)
    options = {"threads": threads} if threads else {}
    run_id = None if window is not None else "bluesky-threads-test"
    return lake.ingest(source, settings, window, run_id=run_id, credentials=credentials, options=options)


def lake_rows(settings) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(settings.posts_dir.glob("platform=bluesky/date=*/*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows[row["post_id"]] = row
    return rows


def raw_pages(settings) -> list[dict[str, Any]]:
    files = sorted(settings.raw_dir.glob("bluesky/date=*/*.jsonl.zst"))
    return [p for f in files for p in lake.read_raw_pages(f)]


def quarantined(settings) -> list[dict[str, Any]]:
    lines = []
    for path in settings.quarantine_dir.glob("bluesky/*.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


# ------------------------------------------------------------------------------------------ the spec, from JSON
def spec(view: dict[str, Any]) -> tuple:
    """(kind, share_type, parent_id, root_id, shared_id) of a post view, straight from the issue's rules."""
    record = view["record"]
    reply = record.get("reply") or {}
    embed = record.get("embed") or {}
    quoted = None
    if embed.get("$type") == "app.bsky.embed.record":
        quoted = embed["record"].get("uri")
    elif embed.get("$type") == "app.bsky.embed.recordWithMedia":
        quoted = embed["record"]["record"].get("uri")
    if quoted and f"/{POST}/" not in quoted:
        quoted = None
    q = "bluesky:" + quoted if quoted else None
    if reply:
        return (
            "comment",
            "quote" if q else None,
            "bluesky:" + reply["parent"]["uri"],
            "bluesky:" + reply["root"]["uri"],
            q,
        )
    if q:
        return ("share", "quote", None, "bluesky:" + view["uri"], q)
    return ("post", None, None, "bluesky:" + view["uri"], None)


def links(rows: dict[str, dict[str, Any]], ids) -> dict[str, tuple]:
    return {
        i: (
            rows[i]["kind"],
            rows[i]["share_type"],
            rows[i]["parent_id"],
            rows[i]["root_id"],
            rows[i]["shared_id"],
        )
        for i in ids
    }


def walk(node: dict[str, Any], out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out.append(node)
    if node.get("parent"):
        walk(node["parent"], out)
    for reply in node.get("replies") or []:
        walk(reply, out)
    return out


# ------------------------------------------------------------------------------------------ mapping helpers
def test_permalinks_record_keys_and_thread_addresses():
    uri = "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheyt6vpc22"
    assert permalink(uri) == "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kaheyt6vpc22"
    assert to_at_uri("https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kaheyt6vpc22") == (
        uri,
        False,
    )
    assert to_at_uri("https://bsky.app/profile/bsky.app/post/3kaheyt6vpc22")[1] is True
    # the record key of a post created 2023-09-28T12:49:36Z (its createdAt in the recorded record)
    assert tid_time("3kaheyt6vpc22").startswith("2023-09-28T12:49")
    with pytest.raises(ConfigError, match="neither an at:// post URI"):
        to_at_uri("https://example.org/post/1")


# ------------------------------------------------------------------------------------------ one thread
def test_hellthread_lands_with_blocked_nodes_flagged_quotes_and_reposts(make_settings, server):
    thread = recorded_json("bluesky_sdks", "atproto_dart", "getPostThread_hellthread.json")
    quotes = vcr_bodies("f_getquotes")[0]
    reposts = recorded_json("bluesky_sdks", "atproto_dart", "getRepostedBy.json")
    root = thread["thread"]["post"]["uri"]
    server.add("app.bsky.feed.getPostThread", Answer.json(thread), params={"uri": root})
    server.add("app.bsky.feed.getQuotes", Answer.json(quotes), params={"uri": root})
    server.add(
        "app.bsky.feed.getRepostedBy",
        Answer.json(reposts),
        Answer.json({"uri": root, "repostedBy": []}),
        params={"uri": root},
    )
    settings = make_settings()
    result = run(settings, threads=[root])
    assert server.calls("app.bsky.feed.getRepostedBy")[1]["cursor"] == reposts["cursor"]

    nodes = walk(thread["thread"], [])
    views = [n["post"] for n in nodes if n.get("$type") == "app.bsky.feed.defs#threadViewPost"]
    blocked = [n for n in nodes if n.get("$type") == "app.bsky.feed.defs#blockedPost"]
    assert len(blocked) >= 1 and len(views) + len(blocked) == len(nodes)
    rows = lake_rows(settings)
    thread_ids = {"bluesky:" + v["uri"] for v in views}
    assert links(rows, thread_ids) == {"bluesky:" + v["uri"]: spec(v) for v in views}
    # the 54-deep parent chain: every post of it links to the next one up
    assert sum(1 for i in thread_ids if rows[i]["parent_id"]) == sum(
        1 for v in views if v["record"].get("reply")
    )
    # quotes are shares (or quoting comments) of what their embed names
    quote_ids = {"bluesky:" + p["uri"] for p in quotes["posts"]}
    assert links(rows, quote_ids) == {"bluesky:" + p["uri"]: spec(p) for p in quotes["posts"]}
    # reposters are synthetic shares of the subject (a star)
    expected_reposts = {f"bluesky:repost:{reposts['uri']}:{p['did']}" for p in reposts["repostedBy"]}
    assert {i for i, r in rows.items() if r["share_type"] == "repost"} == expected_reposts
    assert all(rows[i]["shared_id"] == "bluesky:" + reposts["uri"] for i in expected_reposts)
    assert result.rows == len(thread_ids | quote_ids | expected_reposts)
    # blocked nodes are quarantined with the reason, never a crash
    reasons = [q["reason"] for q in quarantined(settings)]
    assert sorted(r for r in reasons if r.startswith("blocked post")) == sorted(
        f"blocked post {b['uri']}: hidden from the fetching account by a block" for b in blocked
    )
    assert result.quarantined == len(blocked)
    # authors are DIDs, pseudonymised; url is the permalink; counters come from the view
    top = rows["bluesky:" + root]
    assert top["url"] == permalink(root) and top["author_id"] != thread["thread"]["post"]["author"]["did"]
    assert top["score"] == thread["thread"]["post"]["likeCount"]
    assert [p["data"] for p in raw_pages(settings)][:3] == [thread, quotes, reposts]


def test_thread_by_bsky_app_url_resolves_the_handle_and_maps_a_quote(make_settings, server):
    handle_answer = recorded_json("bluesky_atproto", "resolve_handle.json")
    thread = recorded_json("bluesky_atproto", "thread_view_post_with_embed_media.json")
    rkey = thread["thread"]["post"]["uri"].rsplit("/", 1)[1]
    uri = f"at://{handle_answer['did']}/{POST}/{rkey}"
    server.add(
        "com.atproto.identity.resolveHandle", Answer.json(handle_answer), params={"handle": "bsky.app"}
    )
    server.add("app.bsky.feed.getPostThread", Answer.json(thread), params={"uri": uri})
    server.add("app.bsky.feed.getQuotes", Answer.json({"uri": uri, "posts": []}))
    server.add("app.bsky.feed.getRepostedBy", Answer.json({"uri": uri, "repostedBy": []}))
    settings = make_settings()
    run(settings, threads=[f"https://bsky.app/profile/bsky.app/post/{rkey}"])
    rows = lake_rows(settings)
    view = thread["thread"]["post"]
    row = rows["bluesky:" + view["uri"]]
    assert (row["kind"], row["share_type"]) == ("share", "quote")
    assert row["shared_id"] == "bluesky:" + view["record"]["embed"]["record"]["record"]["uri"]
    assert row["shared_id"].endswith("/3kahesw26il2z")


# ------------------------------------------------------------------------------------------ nightly discovery
WINDOW = Window(datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 20, tzinfo=UTC))


def test_search_is_paginated_by_cursor_within_the_window(make_settings, server):
    page = recorded_json("bluesky_sdks", "atrrr", "app.bsky.feed.searchPosts_0e3ec.body.json")
    server.add("app.bsky.feed.searchPosts", Answer.json(page), Answer.json({"posts": []}))
    settings = make_settings(queries=["rstats"])
    result = run(settings, WINDOW)

    first, second = server.calls("app.bsky.feed.searchPosts")
    assert first == {
        "q": "rstats",
        "limit": "100",
        "sort": "latest",
        "since": "2025-07-01T00:00:00.000Z",
        "until": "2025-07-20T00:00:00.000Z",
    }
    assert second["cursor"] == page["cursor"]
    rows = lake_rows(settings)
    expected = {"bluesky:" + p["uri"]: spec(p) for p in page["posts"]}
    assert result.rows == len(expected) and result.quarantined == 0
    assert links(rows, expected) == expected
    quotes = sum(1 for v in expected.values() if v[1] == "quote")
    assert quotes == sum(1 for r in rows.values() if r["share_type"] == "quote") and quotes > 0
    newest = max(p["record"]["createdAt"] for p in page["posts"])
    state = json.loads((settings.state_dir / "bluesky.json").read_text())
    assert state["watermark"]["newest"] == {"rstats": newest}


def test_author_feed_maps_reposts_and_reply_context(make_settings, server):
    page = recorded_json("bluesky_sdks", "atproto_dart", "getAuthorFeed.json")
    server.add("app.bsky.feed.getAuthorFeed", Answer.json(page), Answer.json({"feed": []}))
    settings = make_settings(accounts=["shinyakato.dev"])
    run(settings, Window(datetime(2023, 4, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)))

    rows = lake_rows(settings)
    views = {}
    for item in page["feed"]:
        views[item["post"]["uri"]] = item["post"]
        for ref in ("root", "parent"):
            node = (item.get("reply") or {}).get(ref)
            if node and "record" in node:
                views[node["uri"]] = node
    expected = {"bluesky:" + u: spec(v) for u, v in views.items()}
    assert links(rows, expected) == expected
    reposts = {
        f"bluesky:repost:{i['post']['uri']}:{i['reason']['by']['did']}"
        for i in page["feed"]
        if (i.get("reason") or {}).get("$type") == "app.bsky.feed.defs#reasonRepost"
    }
    assert len(reposts) == 2
    assert {i for i, r in rows.items() if r["share_type"] == "repost"} == reposts
    assert set(rows) == set(expected) | reposts
    assert server.calls("app.bsky.feed.getAuthorFeed")[1]["cursor"] == page["cursor"]

    # the staging model: reposts are stars, ids split into DID and record key
    con = duckdb.connect()
    glob = str(settings.posts_dir / "platform=*" / "date=*" / "*.parquet")
    con.execute(f"create view src_posts as select * from read_parquet('{glob}', hive_partitioning = true)")
    for model in ("stg_posts", "stg_bluesky_posts"):
        con.execute(f"create table {model} as {(REPO / 'sql' / 'staging' / f'{model}.sql').read_text()}")
    got = con.execute("""
        select count(*) filter (where is_synthetic_repost and reshare_tree = 'api_star'),
               count(*) filter (where is_reply), count(*) filter (where is_quote), count(*)
        from stg_bluesky_posts""").fetchone()
    kinds = [v[0] for v in expected.values()]
    quotes = sum(1 for v in expected.values() if v[1] == "quote")
    assert got == (2, kinds.count("comment"), quotes, len(expected) + 2)
    first = page["feed"][1]["post"]["uri"]
    did, rkey = con.execute("select did, rkey from stg_bluesky_posts where at_uri = ?", [first]).fetchone()
    assert f"at://{did}/{POST}/{rkey}" == first


def test_feed_communities_follow_the_configured_feed(make_settings, server):
    page = vcr_bodies("f_feedfeed")[0]
    feed = "at://did:plc:example/app.bsky.feed.generator/science"
    server.add("app.bsky.feed.getFeed", Answer.json({"feed": page["feed"]}), params={"feed": feed})
    settings = make_settings(feeds=[feed], community="feed")
    result = run(settings, Window(datetime(2020, 1, 1, tzinfo=UTC), datetime(2025, 7, 20, tzinfo=UTC)))
    rows = lake_rows(settings)
    assert rows and {r["community"] for r in rows.values()} == {feed.lower()}
    assert result.by_community["bluesky"] == {feed.lower(): len(rows)}


# ------------------------------------------------------------------------------------------ HTTP policy
def small_search(server, *first: Answer) -> dict[str, Any]:
    page = recorded_json("bluesky_sdks", "atproto_dart", "searchPosts.json")
    server.add("app.bsky.feed.searchPosts", *first, Answer.json(page), Answer.json({"posts": []}))
    return page


def test_429_waits_until_the_reset_header(make_settings, server):
    reset = str(int(NOW) + 30)
    page = small_search(server, xrpc_error(429, "RateLimitExceeded", headers={"ratelimit-reset": reset}))
    settings = make_settings(queries=["fone"])
    sleeps: list[float] = []
    result = run(settings, WINDOW, sleeps=sleeps)
    assert sleeps == [31.0]
    assert result.rows == len(page["posts"]) == 1


def test_server_error_is_retried_with_backoff(make_settings, server):
    small_search(server, xrpc_error(500, "InternalServerError"))
    settings = make_settings(queries=["fone"], retry_base_seconds=3.0)
    sleeps: list[float] = []
    result = run(settings, WINDOW, sleeps=sleeps)
    assert sleeps == [3.0] and result.rows == 1
    assert len(server.calls("app.bsky.feed.searchPosts")) == 3  # 500, the page, the end of results


def test_a_server_error_that_persists_stops_the_run_with_one_line(make_settings, server):
    server.add("app.bsky.feed.searchPosts", xrpc_error(503, "ServiceUnavailable"), repeat_last=True)
    settings = make_settings(queries=["fone"], max_retries=2)
    sleeps: list[float] = []
    with pytest.raises(SourceError) as failed:
        run(settings, WINDOW, sleeps=sleeps)
    assert str(failed.value) == (
        "bluesky: app.bsky.feed.searchPosts: still failing after 3 attempts (HTTP 503); "
        "a re-run resumes from the checkpoint"
    )
    assert sleeps == [2.0, 4.0] and len(server.calls("app.bsky.feed.searchPosts")) == 3


def test_a_rate_limit_reset_beyond_the_longest_wait_stops_the_run(make_settings, server):
    reset = str(int(NOW) + 3600)
    error = xrpc_error(429, "RateLimitExceeded", headers={"ratelimit-reset": reset})
    server.add("app.bsky.feed.searchPosts", error)
    sleeps: list[float] = []
    with pytest.raises(SourceError, match=r"searchPosts: rate limited; the reset is 60 min away"):
        run(make_settings(queries=["fone"]), WINDOW, sleeps=sleeps)
    assert sleeps == []


def test_a_dropped_connection_is_retried(make_settings, server):
    small_search(server, dropped())
    settings = make_settings(queries=["fone"])
    sleeps: list[float] = []
    result = run(settings, WINDOW, sleeps=sleeps)
    assert sleeps == [2.0] and result.rows == 1


def test_a_failing_quotes_call_marks_the_cascade_incomplete_and_the_run_goes_on(make_settings, server):
    thread = vcr_bodies("f_postthread")[0]
    reposts = vcr_bodies("f_reposts")[0]
    root = thread["thread"]["post"]["uri"]
    server.add("app.bsky.feed.getPostThread", Answer.json(thread))
    server.add("app.bsky.feed.getQuotes", xrpc_error(502, "UpstreamFailure"), repeat_last=True)
    server.add("app.bsky.feed.getRepostedBy", Answer.json(reposts))
    settings = make_settings(max_retries=1)
    sleeps: list[float] = []
    result = run(settings, threads=[root], sleeps=sleeps)
    assert len(server.calls("app.bsky.feed.getQuotes")) == 2 and sleeps == [2.0]
    rows = lake_rows(settings)
    assert "bluesky:" + root in rows
    assert sum(1 for r in rows.values() if r["share_type"] == "repost") == len(reposts["repostedBy"])
    incomplete = [q for q in quarantined(settings) if q["reason"].startswith("incomplete cascade")]
    assert (
        len(incomplete) == 1
        and root in incomplete[0]["reason"]
        and "getQuotes" not in incomplete[0]["reason"]
    )
    assert result.quarantine_reasons
    # the warehouse knows the cascade is incomplete
    from pipeline import warehouse
    from pipeline.db import connect_readonly

    warehouse.build(settings)
    con = connect_readonly(settings.warehouse_path)
    try:
        row = con.execute(
            "select failed_fetches, is_complete from fct_cascades where root_id = ?", ["bluesky:" + root]
        ).fetchone()
    finally:
        con.close()
    assert row == (1, False)


def fake_jwt() -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part({'exp': 4102444800, 'iat': 1700000000})}.c2ln"


def test_login_uses_the_app_password_and_never_lands_or_logs_it(make_settings, server, caplog):
    password, jwt = "abcd-efgh-ijkl-mnop", fake_jwt()
    session = {
        "did": "did:plc:z72i7hdynmk6r22z27h6tvur",
        "handle": "ripple.example",
        "accessJwt": jwt,
        "refreshJwt": jwt,
        "active": True,
    }
    server.add("com.atproto.server.createSession", Answer.json(session))
    page = small_search(server)
    settings = make_settings(queries=["fone"])
    caplog.set_level(logging.DEBUG)
    result = run(settings, WINDOW, credentials={"login": "ripple.example", "password": password})
    assert result.rows == len(page["posts"])
    body = json.loads(server.requests[0][4])
    assert body == {"identifier": "ripple.example", "password": password}
    search_headers = {k.lower(): v for k, v in server.requests[1][3].items()}
    assert search_headers["authorization"] == f"Bearer {jwt}"
    stored = b"".join(p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file())
    import zstandard

    for path in settings.raw_dir.rglob("*.zst"):
        stored += zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read()
    for secret in (password, jwt):
        assert secret.encode() not in stored and secret not in caplog.text


def test_anonymous_search_refused_by_the_appview_says_to_log_in(make_settings, server):
    server.add("app.bsky.feed.searchPosts", xrpc_error(403, "Forbidden"))
    with pytest.raises(SourceError, match="HTTP 403: Forbidden.*RIPPLE_BLUESKY_HANDLE"):
        run(make_settings(queries=["fone"]), WINDOW)


def test_a_killed_run_resumes_from_the_landed_page(make_settings, server):
    page = recorded_json("bluesky_sdks", "atrrr", "app.bsky.feed.searchPosts_0e3ec.body.json")
    # page 1, then the process dies while waiting out a 500 on page 2; the re-run asks for page 2 only
    server.add("app.bsky.feed.searchPosts", Answer.json(page), xrpc_error(500, "InternalServerError"))
    server.add("app.bsky.feed.searchPosts", Answer.json({"posts": []}), params={"cursor": page["cursor"]})
    settings = make_settings(queries=["rstats"])

    def killed(_seconds: float) -> None:
        raise KeyboardInterrupt("simulated kill of the nightly run")

    source = BlueskySource(settings, sleep=killed, clock=lambda: NOW)
    with pytest.raises(KeyboardInterrupt):
        lake.ingest(source, settings, WINDOW)
    state = json.loads((settings.state_dir / "bluesky.json").read_text())
    assert state["runs"][f"bluesky-{WINDOW.key()}"]["token"] == page["cursor"]

    result = run(settings, WINDOW)
    calls = server.calls("app.bsky.feed.searchPosts")
    assert [c.get("cursor") for c in calls] == [None, page["cursor"], page["cursor"]]
    assert result.resumed_pages == 1 and result.rows == len(page["posts"])
    assert [p["data"] for p in raw_pages(settings)] == [page, {"posts": []}]


def test_ripple_ingest_thread_takes_a_bsky_app_url(make_settings, server, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    thread = vcr_bodies("f_postthread")[0]
    view = thread["thread"]["post"]
    url = permalink(view["uri"])
    server.add("app.bsky.feed.getPostThread", Answer.json(thread), params={"uri": view["uri"]})
    server.add("app.bsky.feed.getQuotes", Answer.json({"uri": view["uri"], "posts": []}))
    server.add("app.bsky.feed.getRepostedBy", Answer.json({"uri": view["uri"], "repostedBy": []}))
    env = {"RIPPLE__BLUESKY__SERVICE_URL": server.url, "RIPPLE__BLUESKY__APPVIEW_URL": server.url}
    data = tmp_path / "cli-data"
    result = CliRunner().invoke(
        app, ["ingest", "bluesky", "--thread", url, "--data-dir", str(data), "-q"], env=env
    )
    assert result.exit_code == 0, result.output
    settings = load_settings(data_dir=data, environ={})
    assert set(lake_rows(settings)) == {"bluesky:" + view["uri"]}


def test_a_run_without_window_or_threads_is_refused(make_settings):
    with pytest.raises(ConfigError, match="needs a window, or threads"):
        run(make_settings(queries=["x"]))
