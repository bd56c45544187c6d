"""The live Mastodon source, replayed from real recorded responses (rtoot's recordings of mastodon.social and
fosstodon.org, Mastodon.py's cassettes) through the real Mastodon.py client at a loopback HTTP server."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from mastodon_replay import Answer, InstanceServer, cassette, error

from pipeline import lake
from pipeline.config import load_settings
from pipeline.errors import ConfigError, SourceError
from pipeline.sources.base import Window
from pipeline.sources.mastodon import MastodonSource, parse_thread, snowflake, snowflake_time, token_env

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 7, 17, 20, 5, tzinfo=UTC).timestamp()
TAG = "/api/v1/timelines/tag/ichbinhanna"
PUBLIC = "/api/v1/timelines/public"
TOKEN = "tok-7f3a9c2e51b04d8e"


RATE_HEADERS = ("Date", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def instance_answer() -> Answer:
    """mastodon.social's /api/v2/instance as recorded: a cached answer whose X-RateLimit-Reset (07:10:00) lies
    before its own Date (07:15:14). Mastodon.py asks for it before reading a timeline."""
    recorded = cassette("mastodon_py", "cassettes", "test_timeline_disabled.yaml")
    social = next(r for r in recorded if r.uri == "https://mastodon.social/api/v2/instance/")
    assert social.headers["x-ratelimit-reset"] < "2026-08-02T07:15:14"
    return Answer.recorded(social, keep=RATE_HEADERS)


@pytest.fixture
def server():
    with InstanceServer() as srv:
        srv.add("/api/v2/instance/", instance_answer(), repeat_last=True)
        yield srv
    assert not srv.unexpected, f"unexpected requests: {srv.unexpected}"


@pytest.fixture
def clock(monkeypatch):
    """Mastodon.py's rate-limit clock and sleep, so that 429 waits are recorded instead of slept."""
    import mastodon.internals

    fake = SimpleNamespace(now=NOW, sleeps=[])
    fake.time = lambda: fake.now
    fake.sleep = lambda seconds: (
        fake.sleeps.append(round(seconds, 3)),
        setattr(fake, "now", fake.now + seconds),
    )
    monkeypatch.setattr(mastodon.internals, "time", fake)
    return fake


@pytest.fixture
def make_settings(tmp_path, monkeypatch, server, clock):
    monkeypatch.chdir(tmp_path)

    def make(**values: Any):
        section = {"instances": [server.url], "max_roots": 0, "parent_budget": 0, **values}
        return load_settings(data_dir=tmp_path / "data", overrides={"mastodon": section}, environ={})

    return make


def run(settings, window=None, *, threads=None, instance=None, credentials=None, sleeps=None):
    sleeps = [] if sleeps is None else sleeps
    source = MastodonSource(settings, sleep=sleeps.append)
    options: dict[str, Any] = {"threads": threads} if threads else {}
    if instance:
        options["instance"] = instance
    run_id = None if window is not None else "mastodon-threads-test"
    return lake.ingest(source, settings, window, run_id=run_id, credentials=credentials, options=options)


def lake_rows(settings) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(settings.posts_dir.glob("platform=mastodon/date=*/*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows[row["post_id"]] = row
    return rows


def raw_pages(settings) -> list[dict[str, Any]]:
    files = sorted(settings.raw_dir.glob("mastodon/date=*/*.jsonl.zst"))
    return [p for f in files for p in lake.read_raw_pages(f)]


def quarantined(settings) -> list[dict[str, Any]]:
    lines = []
    for path in settings.quarantine_dir.glob("mastodon/*.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def home(status: dict[str, Any]) -> str:
    """The author's instance, straight from the JSON: acct's domain, else the host of the profile URL."""
    acct, url = status["account"]["acct"], status["account"]["url"]
    return acct.split("@")[1] if "@" in acct else url.split("/")[2]


WINDOW = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 7, 18, tzinfo=UTC))


# ------------------------------------------------------------------------------------------ ids and addresses
def test_snowflake_ids_encode_milliseconds_and_thread_addresses_parse():
    status = cassette("mastodon_rtoot", "get_status_default.yml")[0].json()
    created = datetime.fromisoformat(status["created_at"].replace("Z", "+00:00"))
    # the id is made when the server stores the status: a few milliseconds around created_at
    assert abs(int(status["id"]) - snowflake(created)) < 1000 << 16
    assert abs((snowflake_time(status["id"]) - created).total_seconds()) < 1
    assert snowflake(datetime(2025, 6, 3, 16, 49, 43, 428000, tzinfo=UTC)) >> 16 == int(status["id"]) >> 16
    assert parse_thread("https://fosstodon.org/@schochastics/114620457512351116", None) == (
        "https://fosstodon.org",
        "114620457512351116",
    )
    assert parse_thread(status["uri"], None) == ("https://fosstodon.org", status["id"])
    assert parse_thread("114620457512351116", "fosstodon.org") == (
        "https://fosstodon.org",
        "114620457512351116",
    )
    with pytest.raises(ConfigError, match="needs --instance"):
        parse_thread("114620457512351116", None)
    assert token_env("https://mastodon.social") == "RIPPLE_MASTODON_TOKEN_MASTODON_SOCIAL"


# ------------------------------------------------------------------------------------------ nightly timeline
def serve_hashtag_pages(server) -> list[Any]:
    recorded = cassette("mastodon_rtoot", "handle_params_max_id.yml")
    answers = [Answer.recorded(r, link_base=server.url) for r in recorded]
    server.add(TAG, *answers, Answer.json([]))
    return recorded


def test_hashtag_timeline_across_31_instances(make_settings, server):
    recorded = serve_hashtag_pages(server)
    settings = make_settings(hashtags=["#IchBinHanna"])
    result = run(settings, WINDOW)

    # windowed by snowflake ids, then paged down with the max_id of each answer's Link header
    calls = server.calls(TAG)
    assert calls[0]["max_id"] == str(snowflake(WINDOW.until))
    assert {c["since_id"] for c in calls} == {str(snowflake(WINDOW.since) - 1)}
    assert [c["max_id"] for c in calls[1:]] == [r.uri.split("max_id=")[1] for r in recorded[1:]] + [
        recorded[-1].headers["link"].split("max_id=")[1].split("&")[0].split(">")[0]
    ]
    pages = [r.json() for r in recorded]
    statuses = [s for page in pages for s in page]
    rows = lake_rows(settings)
    assert result.rows == len(rows) == len({s["uri"] for s in statuses}) == 160
    assert result.quarantined == 0

    # one status, one item, in its author's home instance; parents resolved when seen (this page or earlier)
    expected, seen = {}, {}
    for page in pages:
        seen.update({s["id"]: s["uri"] for s in page})
        for s in page:
            parent = s["in_reply_to_id"]
            parent_id = None
            if parent:
                parent_id = (
                    "mastodon:" + seen[parent] if parent in seen else f"mastodon:local:127.0.0.1/{parent}"
                )
            expected["mastodon:" + s["uri"]] = ("comment" if parent else "post", parent_id, home(s), s["url"])
    got = {i: (r["kind"], r["parent_id"], r["community"], r["url"]) for i, r in rows.items()}
    assert got == expected
    assert len({v[2] for v in expected.values()}) == 31
    assert result.by_community["mastodon"]["bsky.brid.gy"] == 58
    # the one quote in the file is still pending: not a share
    assert [s["quote"]["state"] for s in statuses if s.get("quote")] == ["pending"]
    assert not any(r["share_type"] for r in rows.values())
    state = json.loads((settings.state_dir / "mastodon.json").read_text())
    newest = max(int(s["id"]) for s in statuses)
    assert state["watermark"]["newest"] == {f"{server.url} tag:ichbinhanna": str(newest)}
    assert [p["data"] for p in raw_pages(settings)] == [*pages, []]

    # the staging model: bridged posts flagged, unresolved parents flagged
    con = duckdb.connect()
    glob = str(settings.posts_dir / "platform=*" / "date=*" / "*.parquet")
    con.execute(f"create view src_posts as select * from read_parquet('{glob}', hive_partitioning = true)")
    for model in ("stg_posts", "stg_mastodon_posts"):
        con.execute(f"create table {model} as {(REPO / 'sql' / 'staging' / f'{model}.sql').read_text()}")
    got_flags = con.execute("""
        select count(*) filter (where is_bridged), count(*) filter (where is_parent_unresolved),
               count(*) filter (where is_reply), count(distinct instance), count(*)
        from stg_mastodon_posts""").fetchone()
    bridged = sum(
        1 for s in statuses if s["uri"].split("/")[2] in ("bsky.brid.gy", "web.brid.gy", "fed.brid.gy")
    )
    unresolved = sum(1 for v in expected.values() if v[1] and v[1].startswith("mastodon:local:"))
    replies = sum(1 for s in statuses if s["in_reply_to_id"])
    assert got_flags == (bridged, unresolved, replies, 31, 160)
    assert bridged == 58 and 0 < unresolved < replies == 57


def test_detected_communities_leave_community_empty_for_leiden(make_settings, server):
    serve_hashtag_pages(server)
    settings = make_settings(hashtags=["ichbinhanna"], community="detected")
    result = run(settings, WINDOW)
    assert result.rows == 160
    assert {r["community"] for r in lake_rows(settings).values()} == {None}
    from pipeline.communities import detect_platforms

    assert "mastodon" in detect_platforms(settings)
    assert "mastodon" not in detect_platforms(make_settings(hashtags=["x"]))


# ------------------------------------------------------------------------------------------ one thread
def rtoot(name: str) -> Any:
    return cassette("mastodon_rtoot", name)[0]


def test_thread_lands_its_context_and_its_rebloggers_as_a_star(make_settings, server):
    status = rtoot("get_status_default.yml")
    rebloggers = rtoot("get_reblogged_with_token.yml")
    root = status.json()
    empty = cassette("mastodon_py", "cassettes", "test_status_context.yaml")[1]
    server.add(f"/api/v1/statuses/{root['id']}", Answer.recorded(status))
    server.add(f"/api/v1/statuses/{root['id']}/context", Answer.recorded(empty))
    server.add(
        f"/api/v1/statuses/{root['id']}/reblogged_by", Answer.recorded(rebloggers, link_base=server.url)
    )
    settings = make_settings()
    result = run(settings, threads=[root["id"]], instance=server.url)

    rows = lake_rows(settings)
    accounts = rebloggers.json()
    assert root["reblogs_count"] == len(accounts) == 5
    expected_boosts = {
        f"mastodon:boost:{root['uri']}:{a['acct'] if '@' in a['acct'] else a['acct'] + '@' + home(dict(account=a))}"
        for a in accounts
    }
    boosts = {i for i, r in rows.items() if r["share_type"] == "boost"}
    assert boosts == expected_boosts
    assert {rows[i]["shared_id"] for i in boosts} == {"mastodon:" + root["uri"]}
    assert {rows[i]["community"] for i in boosts} == {home(dict(account=a)) for a in accounts}
    assert rows["mastodon:" + root["uri"]]["url"] == root["url"]
    assert result.rows == 1 + len(accounts) and result.quarantined == 0
    # the recorded Link has only rel="prev": there is no second page to ask for; quotes need a token
    assert len(server.calls(f"/api/v1/statuses/{root['id']}/reblogged_by")) == 1
    assert not server.calls(f"/api/v1/statuses/{root['id']}/quotes")


def test_a_deleted_root_still_lands_its_replies_from_context(make_settings, server):
    context = rtoot("get_context_with_token.yml")
    root_id = context.uri.split("/")[-2]
    server.add(f"/api/v1/statuses/{root_id}", error(404, "Record not found"))
    server.add(f"/api/v1/statuses/{root_id}/context", Answer.recorded(context))
    settings = make_settings()
    result = run(settings, threads=[root_id], instance=server.url)

    replies = context.json()["descendants"]
    by_id = {s["id"]: s["uri"] for s in replies}
    rows = lake_rows(settings)
    expected = {
        "mastodon:" + s["uri"]: (
            "comment",
            "mastodon:" + by_id[s["in_reply_to_id"]]
            if s["in_reply_to_id"] in by_id
            else f"mastodon:local:127.0.0.1/{s['in_reply_to_id']}",
        )
        for s in replies
    }
    assert {i: (r["kind"], r["parent_id"]) for i, r in rows.items()} == expected
    assert sum(1 for v in expected.values() if v[1].endswith("/" + root_id)) == 2
    # the replies to the deleted root share its (unresolved) id as their root
    assert {r["root_id"] for r in rows.values()} == {f"mastodon:local:127.0.0.1/{root_id}"}
    reasons = [q["reason"] for q in quarantined(settings)]
    assert len(reasons) == 1 and reasons[0].startswith(f"status not found: status of {root_id}")
    assert result.rows == 3


def test_parents_named_by_local_id_are_fetched_and_resolved(make_settings, server):
    context = rtoot("get_context_with_token.yml")
    ancestors = rtoot("get_context_with_ancesters.yml").json()["ancestors"]
    replies = context.json()["descendants"]
    parent = ancestors[0]
    assert {s["in_reply_to_id"] for s in replies} - {s["id"] for s in replies} == {parent["id"]}
    server.add(TAG, Answer.json(replies))  # no Link header: the only page
    server.add(f"/api/v1/statuses/{parent['id']}", Answer.json(parent))
    settings = make_settings(hashtags=["ichbinhanna"], parent_budget=10)
    run(settings, WINDOW)
    rows = lake_rows(settings)
    by_id = {s["id"]: s["uri"] for s in [*replies, parent]}
    assert {"mastodon:" + s["uri"]: rows["mastodon:" + s["uri"]]["parent_id"] for s in replies} == {
        "mastodon:" + s["uri"]: "mastodon:" + by_id[s["in_reply_to_id"]] for s in replies
    }
    assert rows["mastodon:" + parent["uri"]]["kind"] == "post"
    # the parent is landed (its own page) before the timeline page that names it
    assert [p["request"]["step"] for p in raw_pages(settings)] == ["parent", "timeline"]


def mastodon_py(name: str) -> list[Any]:
    return cassette("mastodon_py", "cassettes", f"{name}.yaml")


def test_quotes_and_boosts_are_shares_and_the_token_stays_secret(make_settings, server, caplog):
    quote = mastodon_py("test_status_post_with_quote")
    root, quoting = quote[-1].json(), quote[1].json()  # the quoted status after it was quoted, the quote post
    reply_quote = mastodon_py("test_status_reply_with_quote")
    replying = reply_quote[3].json()  # replies to one status and quotes another
    reblog = mastodon_py("test_status_reblogged_by")
    wrapper = reblog[1].json()  # a reblog wrapper as public timelines show it
    empty = mastodon_py("test_status_context")[1]
    server.add(f"/api/v1/statuses/{root['id']}", Answer.json(root))
    server.add(f"/api/v1/statuses/{root['id']}/context", Answer.recorded(empty))
    server.add(f"/api/v1/statuses/{root['id']}/quotes", Answer.json([quoting, replying, wrapper]))
    settings = make_settings()
    caplog.set_level(logging.DEBUG)
    credentials = {"password": TOKEN, "host": server.url}
    result = run(settings, threads=[root["id"]], instance=server.url, credentials=credentials)

    rows = lake_rows(settings)
    assert root["quotes_count"] == 1 and root["reblogs_count"] == 0  # no reblogged_by call
    assert not server.calls(f"/api/v1/statuses/{root['id']}/reblogged_by")
    q = rows["mastodon:" + quoting["uri"]]
    assert (q["kind"], q["share_type"], q["shared_id"]) == ("share", "quote", "mastodon:" + root["uri"])
    r = rows["mastodon:" + replying["uri"]]
    assert (r["kind"], r["share_type"]) == ("comment", "quote")
    assert r["shared_id"] == "mastodon:" + replying["quote"]["quoted_status"]["uri"]
    assert r["parent_id"] == f"mastodon:local:127.0.0.1/{replying['in_reply_to_id']}"
    b = rows["mastodon:" + wrapper["uri"]]
    assert (b["kind"], b["share_type"], b["shared_id"]) == (
        "share",
        "boost",
        "mastodon:" + wrapper["reblog"]["uri"],
    )
    # the boosted and the quoted statuses nested in the answers are items too
    nested = {
        wrapper["reblog"]["uri"],
        replying["quote"]["quoted_status"]["uri"],
        quoting["quote"]["quoted_status"]["uri"],
    }
    assert {"mastodon:" + u for u in nested} <= set(rows)
    assert result.rows == len({root["uri"], quoting["uri"], replying["uri"], wrapper["uri"], *nested})

    # the token is sent to the instance, never landed or logged
    headers = [h for p, _q, h in server.requests if p.endswith("/quotes")][0]
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == f"Bearer {TOKEN}"
    import zstandard

    stored = b"".join(p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file())
    for path in settings.raw_dir.rglob("*.zst"):
        stored += zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read()
    assert TOKEN.encode() not in stored and TOKEN not in caplog.text


def test_token_from_the_environment_per_instance(make_settings, server, monkeypatch):
    from pipeline.sources.base import FetchContext, SourceState
    from pipeline.sources.mastodon import token_for

    settings = make_settings()
    ctx = FetchContext(settings, "r", None, SourceState(settings.state_dir / "x.json"))
    env = {"RIPPLE_MASTODON_TOKEN_MASTODON_SOCIAL": "abc"}
    assert token_for(ctx, "https://mastodon.social", env) == "abc"
    assert token_for(ctx, "https://fosstodon.org", env) is None
    ctx.credentials = {"tokens": {"fosstodon.org": "def"}}
    assert token_for(ctx, "https://fosstodon.org", env) == "def"


# ------------------------------------------------------------------------------------------ HTTP policy
def test_429_waits_for_the_reset_time_then_lands_the_page(make_settings, server, clock):
    page = rtoot("get_timeline_hashtag_instance.yml")
    reset = datetime.fromtimestamp(NOW + 30, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    date = datetime.fromtimestamp(NOW, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    limited = error(
        429, "Too many requests", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset, "Date": date}
    )
    server.add(TAG.replace("ichbinhanna", "rstats"), limited, Answer.recorded(page))
    settings = make_settings(hashtags=["rstats"])
    result = run(settings, WINDOW)
    assert clock.sleeps == [30.0]
    assert result.rows == len(page.json()) == 5


def test_a_stale_reset_time_backs_off_instead_of_failing(make_settings, server, clock):
    """A cached 429 whose reset time lies before its own Date: Mastodon.py's "wait" pacing backs off 2 s."""
    page = rtoot("get_timeline_hashtag_instance.yml")
    social = instance_answer()
    stale = {k: v for k, v in social.headers.items() if k in RATE_HEADERS}
    server.add(
        TAG.replace("ichbinhanna", "rstats"), error(429, "Too many requests", stale), Answer.recorded(page)
    )
    settings = make_settings(hashtags=["rstats"])
    result = run(settings, WINDOW)
    assert clock.sleeps == [2.0]
    assert result.rows == 5


def test_server_error_is_retried_with_backoff(make_settings, server):
    page = rtoot("get_timeline_hashtag_default.yml")
    server.add(TAG.replace("ichbinhanna", "rstats"), error(500), Answer.recorded(page))
    settings = make_settings(hashtags=["rstats"], retry_base_seconds=3.0)
    sleeps: list[float] = []
    result = run(settings, WINDOW, sleeps=sleeps)
    assert sleeps == [3.0] and result.rows == 5
    assert len(server.calls(TAG.replace("ichbinhanna", "rstats"))) == 2


def test_a_server_error_that_persists_stops_the_run_with_one_line(make_settings, server):
    server.add(TAG.replace("ichbinhanna", "rstats"), error(503), repeat_last=True)
    settings = make_settings(hashtags=["rstats"], max_retries=2)
    sleeps: list[float] = []
    with pytest.raises(SourceError, match=r"still failing after 3 attempts \(HTTP 503\); a re-run resumes"):
        run(settings, WINDOW, sleeps=sleeps)
    assert sleeps == [2.0, 4.0]
    assert len(server.calls(TAG.replace("ichbinhanna", "rstats"))) == 3


def test_a_failing_reblogger_page_marks_the_cascade_incomplete_and_the_run_goes_on(make_settings, server):
    first = cassette("mastodon_rtoot", "get_reblogged_by_default.yml")[0]
    subject_id = first.uri.split("/")[-2]
    status = rtoot("get_status_default.yml").json()
    status = {**status, "id": subject_id, "reblogs_count": 80}
    path = f"/api/v1/statuses/{subject_id}/reblogged_by"
    server.add(f"/api/v1/statuses/{subject_id}", Answer.json(status))
    server.add(f"/api/v1/statuses/{subject_id}/context", Answer.json({"ancestors": [], "descendants": []}))
    server.add(path, Answer.recorded(first, link_base=server.url), error(502), error(502))
    settings = make_settings(max_retries=1)
    sleeps: list[float] = []
    result = run(settings, threads=[subject_id], instance=server.url, sleeps=sleeps)
    calls = server.calls(path)
    assert len(calls) == 3 and calls[1]["max_id"] == first.headers["link"].split("max_id=")[1].split(">")[0]
    assert sleeps == [2.0]
    rows = lake_rows(settings)
    assert sum(1 for r in rows.values() if r["share_type"] == "boost") == len(first.json()) == 40
    incomplete = [q["reason"] for q in quarantined(settings) if q["reason"].startswith("incomplete cascade")]
    assert len(incomplete) == 1 and status["uri"] in incomplete[0] and "reblogs" in incomplete[0]
    assert result.rows == 41


def test_an_instance_that_refuses_anonymous_reads_says_which_token_to_set(make_settings, server):
    server.add(TAG, error(401, "This method requires an authenticated user"))
    with pytest.raises(SourceError, match=r"HTTP 401: Unauthorized.*RIPPLE_MASTODON_TOKEN_127_0_0_1"):
        run(make_settings(hashtags=["ichbinhanna"]), WINDOW)


def test_a_killed_run_resumes_from_the_landed_page(make_settings, server):
    recorded = cassette("mastodon_rtoot", "handle_params_max_id.yml")
    answers = [Answer.recorded(r, link_base=server.url) for r in recorded]
    # page 1, then the process dies while waiting out a 500 on page 2; the re-run asks for page 2 only
    server.add(TAG, answers[0], error(500))
    settings = make_settings(hashtags=["ichbinhanna"], timeline_budget=80)

    def killed(_seconds: float) -> None:
        raise KeyboardInterrupt("simulated kill of the nightly run")

    with pytest.raises(KeyboardInterrupt):
        lake.ingest(MastodonSource(settings, sleep=killed), settings, WINDOW)
    second = recorded[1].uri.split("max_id=")[1]
    state = json.loads((settings.state_dir / "mastodon.json").read_text())
    assert state["runs"][f"mastodon-{WINDOW.key()}"]["token"] == second

    server.add(TAG, answers[1], params={"max_id": second})
    result = run(settings, WINDOW)
    assert [c["max_id"] for c in server.calls(TAG)] == [str(snowflake(WINDOW.until)), second, second]
    assert result.resumed_pages == 1 and result.rows == 80
    assert [p["data"] for p in raw_pages(settings)] == [recorded[0].json(), recorded[1].json()]


def test_ripple_ingest_mastodon_thread_with_instance(make_settings, server, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    status = rtoot("get_status_default.yml")
    root = status.json()
    server.add(f"/api/v1/statuses/{root['id']}", Answer.recorded(status))
    server.add(f"/api/v1/statuses/{root['id']}/context", Answer.json({"ancestors": [], "descendants": []}))
    server.add(f"/api/v1/statuses/{root['id']}/reblogged_by", Answer.json([]))
    data = tmp_path / "cli-data"
    args = [
        "ingest",
        "mastodon",
        "--thread",
        root["id"],
        "--instance",
        server.url,
        "--data-dir",
        str(data),
        "-q",
    ]
    result = CliRunner().invoke(app, args, env={})
    assert result.exit_code == 0, result.output
    settings = load_settings(data_dir=data, environ={})
    assert set(lake_rows(settings)) == {"mastodon:" + root["uri"]}
    assert lake_rows(settings)["mastodon:" + root["uri"]]["community"] == "fosstodon.org"


def test_a_run_without_window_or_threads_is_refused(make_settings):
    with pytest.raises(ConfigError, match="needs a window, or threads"):
        run(make_settings(hashtags=["x"]))


def test_nightly_roots_get_their_whole_thread_once(make_settings, server):
    with_token = rtoot("get_context_with_token.yml")  # the context of the root: its 3 replies
    with_ancestors = rtoot("get_context_with_ancesters.yml")  # the context of the first reply: the root
    root = with_ancestors.json()["ancestors"][0]
    replies = with_token.json()["descendants"]
    first_reply = next(s for s in replies if s["id"] == with_ancestors.uri.split("/")[-2])
    server.add(TAG, Answer.json([first_reply, root]))
    server.add(f"/api/v1/statuses/{root['id']}/context", Answer.recorded(with_token))
    server.add(f"/api/v1/statuses/{first_reply['id']}/context", Answer.recorded(with_ancestors))
    settings = make_settings(hashtags=["ichbinhanna"], max_roots=10, reblog_budget=0)
    result = run(settings, WINDOW)

    # both statuses are roots; the root (more engaged) first; the reply's thread top is the root, done already
    contexts = [p for p, _q, _h in server.requests if p.endswith("/context")]
    assert contexts == [
        f"/api/v1/statuses/{root['id']}/context",
        f"/api/v1/statuses/{first_reply['id']}/context",
    ]
    rows = lake_rows(settings)
    uris = {s["id"]: s["uri"] for s in [root, *replies]}
    assert {i: (r["parent_id"], r["root_id"]) for i, r in rows.items()} == {
        "mastodon:" + s["uri"]: (
            "mastodon:" + uris[s["in_reply_to_id"]] if s["in_reply_to_id"] else None,
            "mastodon:" + root["uri"],
        )
        for s in [root, *replies]
    }
    assert result.rows == 4 and result.duplicates == 2
    assert {r["community"] for r in rows.values()} == {"fosstodon.org"}


def test_local_and_federated_public_timelines(make_settings, server):
    federated = rtoot("get_timeline_public_instance.yml")
    local = rtoot("get_timeline_public_default.yml")
    server.add(PUBLIC, Answer.recorded(local), params={"local": "1"})
    server.add(PUBLIC, Answer.recorded(federated))
    settings = make_settings(public_local=True, public_federated=True)
    result = run(settings, WINDOW)
    calls = server.calls(PUBLIC)
    assert [c.get("local") for c in calls] == ["1", None]
    statuses = [*local.json(), *federated.json()]
    targets = {s["uri"]: s for s in statuses}
    targets.update({s["reblog"]["uri"]: s["reblog"] for s in statuses if s.get("reblog")})
    rows = lake_rows(settings)
    assert set(rows) == {"mastodon:" + u for u in targets}
    assert result.rows == len(targets)
    assert {i: r["community"] for i, r in rows.items()} == {
        "mastodon:" + u: home(s) for u, s in targets.items()
    }
    # no boosts in these recordings (public timelines without reblogs); replies resolve within their page
    assert not any(s.get("reblog") for s in statuses)
    parents = {}
    for page in (local.json(), federated.json()):
        ids = {s["id"]: s["uri"] for s in page}
        for s in page:
            if s["in_reply_to_id"]:
                ref = s["in_reply_to_id"]
                parents["mastodon:" + s["uri"]] = (
                    "mastodon:" + ids[ref] if ref in ids else f"mastodon:local:127.0.0.1/{ref}"
                )
    assert {i: r["parent_id"] for i, r in rows.items() if r["kind"] == "comment"} == parents
    assert len(parents) == 6


def test_a_thread_given_by_a_reply_resolves_its_parent_and_lands_the_whole_thread(make_settings, server):
    with_token = rtoot("get_context_with_token.yml")
    with_ancestors = rtoot("get_context_with_ancesters.yml")
    root = with_ancestors.json()["ancestors"][0]
    replies = with_token.json()["descendants"]
    reply = next(s for s in replies if s["id"] == with_ancestors.uri.split("/")[-2])
    server.add(f"/api/v1/statuses/{reply['id']}", Answer.json(reply))
    server.add(f"/api/v1/statuses/{root['id']}", Answer.json(root))
    server.add(f"/api/v1/statuses/{reply['id']}/context", Answer.recorded(with_ancestors))
    server.add(f"/api/v1/statuses/{root['id']}/context", Answer.recorded(with_token))
    settings = make_settings(parent_budget=5, reblog_budget=0)
    result = run(settings, threads=[reply["url"].replace("https://fosstodon.org", server.url)])

    steps = [(p["request"]["step"], p["request"]["status_id"]) for p in raw_pages(settings)]
    assert steps == [
        ("parent", root["id"]),
        ("status", reply["id"]),
        ("context", reply["id"]),
        ("context", root["id"]),
    ]
    rows = lake_rows(settings)
    uris = {s["id"]: s["uri"] for s in [root, *replies]}
    assert {i: r["parent_id"] for i, r in rows.items()} == {
        "mastodon:" + s["uri"]: "mastodon:" + uris[s["in_reply_to_id"]] if s["in_reply_to_id"] else None
        for s in [root, *replies]
    }
    assert result.rows == 4


def test_the_marts_and_the_report_work_unchanged_on_mastodon(make_settings, server):
    """The recorded timeline through the lake, the real sql/ models and the report: instances are communities, the
    status pages are the permalinks, and every assertion of the build holds."""
    from pipeline import warehouse
    from pipeline.db import connect_readonly
    from pipeline.report import render_report

    recorded = serve_hashtag_pages(server)
    settings = make_settings(hashtags=["#IchBinHanna"])
    run(settings, WINDOW)
    result = warehouse.build(settings)
    assert result.assertions > 0
    statuses = {"mastodon:" + s["uri"]: s for r in recorded for s in r.json()}
    con = connect_readonly(settings.warehouse_path)
    try:
        spread = con.execute(
            "select root_id, origin_community, permalink from fct_item_spread where platform = 'mastodon'"
        ).fetchall()
        communities = con.execute(
            "select count(*) from dim_communities where platform = 'mastodon'"
        ).fetchone()[0]
    finally:
        con.close()
    roots = [row for row in spread if row[0] in statuses]
    assert roots and len(roots) == len(spread)
    for root_id, community, permalink in roots:
        assert community == home(statuses[root_id])
        assert permalink == statuses[root_id]["url"]
    assert communities == 31
    busiest = Counter(
        datetime.fromisoformat(s["created_at"].replace("Z", "+00:00")).strftime("%G-W%V")
        for s in statuses.values()
    ).most_common(1)[0][0]
    html = render_report(settings, week=busiest).read_text()
    assert f"Week {busiest}" in html or busiest in html
    assert "bsky.brid.gy" in html  # the bridge is the week's biggest community


def test_a_failed_reblogger_page_leaves_its_cascade_incomplete_in_the_warehouse(make_settings, server):
    """The quarantined "incomplete cascade" record reaches fct_cascades: failed_fetches = 1, is_complete false."""
    from pipeline import warehouse
    from pipeline.db import connect_readonly

    first = cassette("mastodon_rtoot", "get_reblogged_by_default.yml")[0]
    subject_id = first.uri.split("/")[-2]
    status = {**rtoot("get_status_default.yml").json(), "id": subject_id, "reblogs_count": 80}
    path = f"/api/v1/statuses/{subject_id}/reblogged_by"
    server.add(f"/api/v1/statuses/{subject_id}", Answer.json(status))
    server.add(f"/api/v1/statuses/{subject_id}/context", Answer.json({"ancestors": [], "descendants": []}))
    server.add(path, Answer.recorded(first, link_base=server.url), error(502), error(502))
    settings = make_settings(max_retries=1)
    run(settings, threads=[subject_id], instance=server.url)
    warehouse.build(settings)
    con = connect_readonly(settings.warehouse_path)
    try:
        row = con.execute(
            "select size, failed_fetches, is_complete, reshare_tree from fct_cascades where root_id = ?",
            ["mastodon:" + status["uri"]],
        ).fetchone()
        steps = con.execute("select step, item_uri from stg_incomplete_fetches").fetchall()
    finally:
        con.close()
    assert steps == [(steps[0][0], status["uri"])]
    assert row == (41, 1, False, "api_star")
