"""The live X source, replayed at the HTTP layer from real recorded responses (no network)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from x_replay import (
    Recorded,
    ReplayAdapter,
    as_api_body,
    cassette_response,
    end_of_results,
    load_cassette,
    realdata,
    spec_links,
    twarc_pages,
)

from pipeline import lake
from pipeline.config import load_settings
from pipeline.errors import SourceError
from pipeline.sources.base import Reject, Window, get_source
from pipeline.sources.x import XSource, index_response, map_response, tweet_to_post

TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-0e5c2b9f7d41a8"
NOW = datetime(2021, 9, 22, 18, 0, tzinfo=UTC).timestamp()
WINDOW = Window(datetime(2021, 9, 22, tzinfo=UTC), datetime(2021, 9, 22, 17, 0, tzinfo=UTC))
SEARCH = "/2/tweets/search/recent"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RIPPLE_X_BEARER_TOKEN", raising=False)

    def make(data: str = "data", **x: Any):
        values = {"queries": ["#brexit"], "max_roots": 0, **x}
        return load_settings(data_dir=tmp_path / data, overrides={"x": values}, environ={})

    return make


def run(
    settings,
    adapter: ReplayAdapter,
    sleeps: list[float] | None = None,
    window: Window | None = WINDOW,
    credentials: dict[str, str] | None = None,
    clock: float = NOW,
):
    sleeps = [] if sleeps is None else sleeps
    source = XSource(settings, http=adapter.http(), sleep=sleeps.append, clock=lambda: clock)
    creds = {"bearer_token": TOKEN} if credentials is None else credentials
    return lake.ingest(source, settings, window, credentials=creds)


def lake_rows(settings) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(settings.posts_dir.glob("platform=*/date=*/*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows[row["post_id"]] = row
    return rows


def raw_pages(settings) -> list[dict[str, Any]]:
    return [p for f in sorted(settings.raw_dir.glob("x/date=*/*.jsonl.zst")) for p in lake.read_raw_pages(f)]


def quarantined(settings) -> list[dict[str, Any]]:
    lines = []
    for path in settings.quarantine_dir.glob("x/*.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def brexit_adapter(gzipped: bool = True) -> tuple[ReplayAdapter, dict[str, Any]]:
    page = twarc_pages("brexit")[0]
    adapter = ReplayAdapter()
    adapter.add(
        "GET",
        SEARCH,
        Recorded.json(as_api_body(page), gzipped=gzipped),
        end_of_results(),
        params={"query": "#brexit"},
    )
    return adapter, page


# ------------------------------------------------------------------------------------------ search + mapping
def test_search_pages_are_landed_untouched_and_mapped_like_the_spec(make_settings):
    settings = make_settings()
    adapter, page = brexit_adapter()
    result = run(settings, adapter)

    tweets = page["data"] + page["includes"]["tweets"]
    expected = spec_links(tweets)
    rows = lake_rows(settings)
    assert result.rows == len(expected) == 155 and result.quarantined == 0
    assert set(rows) == set(expected)
    assert {
        pid: (r["kind"], r["share_type"], r["parent_id"], r["shared_id"]) for pid, r in rows.items()
    } == expected
    # a reply's root is its conversation; retweets all point at the original (a star)
    for t in tweets:
        row = rows["x:" + t["id"]]
        assert row["root_id"] == "x:" + t["conversation_id"]
        assert row["created_at"] == datetime.fromisoformat(t["created_at"].replace("Z", "+00:00"))
        assert row["author_id"].startswith("u_") and row["author_name"] is None
    retweets = [r for r in rows.values() if r["share_type"] == "retweet"]
    assert len(retweets) == 67 and all(r["score"] is None and r["share_count"] is None for r in retweets)

    # the raw file holds exactly what the API sent, with the request (endpoint + params) beside it
    landed = raw_pages(settings)
    assert [p["data"] for p in landed] == [as_api_body(page), {"meta": {"result_count": 0}}]
    first = landed[0]["request"]
    assert first["endpoint"] == "GET /2/tweets/search/recent"
    assert first["params"]["query"] == "#brexit"
    assert first["params"]["start_time"] == "2021-09-22T00:00:00Z"
    assert first["params"]["end_time"] == "2021-09-22T17:00:00Z"
    for field in (
        "author_id",
        "conversation_id",
        "referenced_tweets",
        "public_metrics",
        "entities",
        "lang",
        "community_id",
    ):
        assert field in first["params"]["tweet.fields"].split(",")
    assert "referenced_tweets.id" in first["params"]["expansions"].split(",")
    # pagination follows the API's token, and the next night starts after the newest tweet
    calls = adapter.calls(SEARCH)
    assert "next_token" not in calls[0]
    assert calls[1]["next_token"] == page["meta"]["next_token"]
    state = json.loads((settings.state_dir / "x.json").read_text())
    assert state["watermark"]["since_id"] == {"#brexit": page["meta"]["newest_id"]}
    assert state["runs"] == {}


def test_query_budget_stops_the_search_pagination(make_settings):
    settings = make_settings(query_budget=100)
    adapter, page = brexit_adapter()
    result = run(settings, adapter)
    assert len(adapter.calls(SEARCH)) == 1 and result.rows == 155
    state = json.loads((settings.state_dir / "x.json").read_text())
    assert state["watermark"]["since_id"] == {"#brexit": page["meta"]["newest_id"]}


def test_reply_that_quotes_stays_in_its_thread_and_records_the_quote():
    page = twarc_pages("quoted_edit")[0]
    tweet = page["data"][0]
    refs = {r["type"]: r["id"] for r in tweet["referenced_tweets"]}
    assert set(refs) == {"replied_to", "quoted"}
    post = tweet_to_post(tweet, index_response(page))
    assert post["kind"] == "comment"
    assert post["parent_id"] == "x:" + refs["replied_to"]
    assert post["shared_id"] == "x:" + refs["quoted"] and post["share_type"] == "quote"
    assert post["root_id"] == "x:" + tweet["conversation_id"]
    # the tweets it points at exist only in includes, and are ingested too
    ids = {p["post_id"] for p in map_response(page) if not isinstance(p, Reject)}
    assert {"x:" + refs["replied_to"], "x:" + refs["quoted"]} <= ids


def test_text_is_unescaped_and_url_is_the_first_link_outside_x():
    page = twarc_pages("brexit")[0]
    escaped = next(t for t in page["data"] if "&amp;" in t["text"])
    post = tweet_to_post(escaped, index_response(page))
    assert "&amp;" not in post["text"] and escaped["text"].replace("&amp;", "&") == post["text"]
    linked = next(
        t
        for t in page["data"] + page["includes"]["tweets"]
        if any("twitter.com" not in u["expanded_url"] for u in t.get("entities", {}).get("urls", []))
    )
    expected = next(
        u["expanded_url"] for u in linked["entities"]["urls"] if "twitter.com" not in u["expanded_url"]
    )
    assert tweet_to_post(linked, index_response(page))["url"] == expected


def test_community_id_and_long_text_are_used_when_present():
    page = twarc_pages("brexit")[0]
    tweet = dict(page["data"][0])
    assert tweet_to_post(tweet, index_response(page))["community"] is None
    tweet["community_id"] = "1471580197908586507"  # a post made inside an X Community
    tweet["note_tweet"] = {"text": tweet["text"] + " (and the rest of a long post &amp; more)"}
    post = tweet_to_post(tweet, index_response(page))
    assert post["community"] == "1471580197908586507"
    assert post["text"].endswith("(and the rest of a long post & more)")


def test_registry_builds_the_live_source(make_settings):
    source = get_source("x", make_settings())
    assert isinstance(source, XSource) and source.platform == "x" and source.lands_raw


# ------------------------------------------------------------------------------------------ roots
def test_roots_get_conversation_quotes_and_retweeters_within_budgets(make_settings):
    settings = make_settings(max_roots=4, conversation_budget=10, quote_budget=15, retweet_budget=20)
    adapter, page = brexit_adapter()
    # real recordings from tweepy's test suite (gzip bodies), served for whichever root is asked about
    adapter.add("GET", SEARCH, cassette_response("test_client_search_recent_tweets.yaml"), repeat_last=True)
    adapter.add(
        "GET",
        r"/2/tweets/\d+/quote_tweets",
        cassette_response("test_client_get_quote_tweets.yaml"),
        end_of_results(),
    )
    retweeters = cassette_response("test_client_get_retweeters.yaml")
    adapter.add("GET", r"/2/tweets/\d+/retweeted_by", retweeters, repeat_last=True)
    before = datetime.now(UTC)
    result = run(settings, adapter)
    after = datetime.now(UTC)

    # the four roots most pointed at by tonight's results, with their counters from the page
    tweets = {t["id"]: t for t in page["data"] + page["includes"]["tweets"]}
    hits: dict[str, int] = {}
    for t in page["data"]:
        refs = {r["type"]: r["id"] for r in t.get("referenced_tweets", [])}
        targets = [
            tweets[o]["conversation_id"] if o in tweets else o
            for o in (refs.get("retweeted"), refs.get("quoted"))
            if o
        ]
        if "retweeted" not in refs:
            targets.append(t["conversation_id"])
        for root in targets:
            hits[root] = hits.get(root, 0) + 1

    def engagement(root: str) -> int:
        metrics = tweets[root]["public_metrics"] if root in tweets else {}
        return sum(metrics.get(k, 0) for k in ("reply_count", "quote_count", "retweet_count"))

    top = sorted(hits, key=lambda r: (-hits[r], -engagement(r), int(r)))[:4]
    assert all(r in tweets for r in top)  # nothing to look up
    conversations = [c for c in adapter.calls(SEARCH) if c["query"].startswith("conversation_id:")]
    assert [c["query"] for c in conversations] == [f"conversation_id:{r}" for r in top]
    assert {c["max_results"] for c in conversations} == {"10"}  # budget 10 reached after one page each
    # quotes are asked only where the API counted some; the second page follows the recorded token
    quoted_roots = [r for r in top if tweets[r]["public_metrics"]["quote_count"] > 0]
    quote_calls = [(path, p) for _m, path, p, _h in adapter.requests if path.endswith("/quote_tweets")]
    assert [path for path, _ in quote_calls] == [
        f"/2/tweets/{r}/quote_tweets" for r in quoted_roots for _ in (1, 2)
    ]
    assert quote_calls[1][1]["pagination_token"] == "ayf96h94ritk"
    rt_calls = [(path, p) for _m, path, p, _h in adapter.requests if path.endswith("/retweeted_by")]
    assert [path for path, _ in rt_calls] == [
        f"/2/tweets/{r}/retweeted_by" for r in top if tweets[r]["public_metrics"]["retweet_count"] > 0
    ]
    assert {p["max_results"] for _, p in rt_calls} == {"20"}

    # retweeters are users: one synthetic share per (root, user), timed when the list was fetched
    users = json.loads(__import__("gzip").decompress(retweeters.body))["data"]
    rows = lake_rows(settings)
    synthetic = {pid: r for pid, r in rows.items() if pid.startswith("x:rt:")}
    assert set(synthetic) == {f"x:rt:{path.split('/')[3]}:{u['id']}" for path, _ in rt_calls for u in users}
    for pid, row in synthetic.items():
        root = pid.split(":")[2]
        assert (row["kind"], row["share_type"], row["shared_id"]) == ("share", "retweet", f"x:{root}")
        assert before <= row["created_at"] <= after and row["text"] is None
    # the recorded tweepy responses were made without fields: their tweets lack created_at and are quarantined
    reasons = {q["reason"].split(" '")[0] for q in quarantined(settings)}
    assert reasons == {"unparseable created_at"}
    assert result.quarantined == 4 * 10 + 9
    assert result.rows == 155 + len(synthetic)


def test_roots_known_only_by_id_are_looked_up(make_settings):
    settings = make_settings(max_roots=1000, conversation_budget=0, quote_budget=0, retweet_budget=0)
    adapter, page = brexit_adapter()
    adapter.add("GET", "/2/tweets", end_of_results(), repeat_last=True)
    run(settings, adapter)
    known = {t["id"]: t for t in page["data"] + page["includes"]["tweets"]}
    # threads the page touched whose first tweet is not in the page (replies to older conversations)
    threads = {t["conversation_id"] for t in page["data"]}
    threads |= {
        known[r["id"]]["conversation_id"]
        for t in page["data"]
        for r in t.get("referenced_tweets", [])
        if r["type"] != "replied_to" and r["id"] in known
    }
    unseen = threads - set(known)
    looked_up = [i for call in adapter.calls("/2/tweets") for i in call["ids"].split(",")]
    assert unseen and sorted(looked_up) == sorted(unseen)
    assert all(len(call["ids"].split(",")) <= 100 for call in adapter.calls("/2/tweets"))


# ------------------------------------------------------------------------------------------ errors
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


def two_tweets_adapter(*first: Recorded) -> ReplayAdapter:
    adapter = ReplayAdapter()
    page = as_api_body(twarc_pages("two_tweets")[0])
    adapter.add("GET", SEARCH, *first, Recorded.json(page), end_of_results())
    return adapter


def test_rate_limit_waits_until_the_reset_header_then_continues(make_settings):
    settings = make_settings()
    reset = int(NOW) + 120
    adapter = two_tweets_adapter(
        Recorded.json(TOO_MANY, status=429, headers={"x-rate-limit-reset": str(reset)})
    )
    sleeps: list[float] = []
    result = run(settings, adapter, sleeps)
    assert sleeps == [reset - NOW + 1]
    assert result.rows == 2 and len(adapter.calls(SEARCH)) == 2  # the 429, then the same request again


def test_rate_limit_resetting_too_far_away_stops_with_a_clear_error(make_settings):
    settings = make_settings()
    adapter = two_tweets_adapter(
        Recorded.json(TOO_MANY, status=429, headers={"x-rate-limit-reset": str(int(NOW) + 24 * 3600)})
    )
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="rate limit on GET /2/tweets/search/recent"):
        run(settings, adapter, sleeps)
    assert sleeps == []


def test_server_error_is_retried_with_backoff(make_settings):
    settings = make_settings()
    adapter = two_tweets_adapter(Recorded.json({"title": "Service Unavailable"}, status=503))
    sleeps: list[float] = []
    assert run(settings, adapter, sleeps).rows == 2
    assert sleeps == [2.0]


def test_server_errors_give_up_after_a_bounded_number_of_retries(make_settings):
    settings = make_settings()
    adapter = ReplayAdapter()
    adapter.add("GET", SEARCH, Recorded.json({"title": "Service Unavailable"}, status=503), repeat_last=True)
    sleeps: list[float] = []
    with pytest.raises(SourceError, match=r"kept failing \(HTTP 503\) after 6 attempts"):
        run(settings, adapter, sleeps)
    assert sleeps == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert len(adapter.requests) == 6
    assert not list(settings.posts_dir.glob("**/*.parquet"))


def test_401_names_the_missing_credential_without_showing_it(make_settings):
    settings = make_settings()
    adapter = ReplayAdapter()
    adapter.add(
        "GET",
        SEARCH,
        Recorded.json(
            {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
            status=401,
        ),
    )
    with pytest.raises(SourceError) as info:
        run(settings, adapter)
    message = str(info.value)
    assert "RIPPLE_X_BEARER_TOKEN" in message and "401" in message
    assert TOKEN not in message and "\n" not in message


def test_403_says_which_access_tier_is_missing(make_settings):
    settings = make_settings()
    adapter = ReplayAdapter()
    adapter.add(
        "GET",
        SEARCH,
        Recorded.json(
            {
                "client_id": "12345",
                "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
                "keys and tokens from a Twitter developer App that is attached to a Project.",
                "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
                "title": "Client Forbidden",
                "required_enrollment": "Appropriate Level of API Access",
                "reason": "client-not-enrolled",
                "type": "https://api.twitter.com/2/problems/client-forbidden",
            },
            status=403,
        ),
    )
    with pytest.raises(SourceError) as info:
        run(settings, adapter)
    message = str(info.value)
    assert "403" in message and "client-not-enrolled" in message and "access tier" in message
    assert "\n" not in message


def test_missing_token_fails_before_any_request(make_settings):
    settings = make_settings()
    adapter = ReplayAdapter()
    with pytest.raises(SourceError, match="RIPPLE_X_BEARER_TOKEN"):
        run(settings, adapter, credentials={})
    assert adapter.requests == []


def test_token_from_the_environment_is_used(make_settings, monkeypatch):
    settings = make_settings()
    monkeypatch.setenv("RIPPLE_X_BEARER_TOKEN", TOKEN)
    adapter, _ = brexit_adapter()
    run(settings, adapter, credentials={})
    assert adapter.requests[0][3]["Authorization"] == f"Bearer {TOKEN}"


def test_partial_errors_keep_the_good_data_and_quarantine_the_errors(make_settings):
    settings = make_settings()
    page = twarc_pages("entities_test")[0]
    adapter = ReplayAdapter()
    adapter.add("GET", SEARCH, Recorded.json(as_api_body(page)), end_of_results())
    result = run(settings, adapter)
    ids = {t["id"] for t in page["data"] + page["includes"]["tweets"]}
    assert set(lake_rows(settings)) == {"x:" + i for i in ids}
    errors = [q for q in quarantined(settings) if q["reason"].startswith("api ")]
    assert sorted(json.dumps(q["record"], sort_keys=True) for q in errors) == sorted(
        json.dumps(e, sort_keys=True) for e in page["errors"]
    )
    assert result.quarantine_reasons == {
        "api Not Found Error": 3,
        "api Forbidden": 5,
        "api Authorization Error": 3,
    }


# ------------------------------------------------------------------------------------------ secrets
def test_token_reaches_no_file_and_no_log(make_settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(max_roots=2, conversation_budget=10, quote_budget=10, retweet_budget=10)
    adapter, _ = brexit_adapter()
    adapter.add("GET", SEARCH, cassette_response("test_client_search_recent_tweets.yaml"), repeat_last=True)
    adapter.add("GET", r"/2/tweets/\d+/quote_tweets", end_of_results(), repeat_last=True)
    adapter.add(
        "GET",
        r"/2/tweets/\d+/retweeted_by",
        cassette_response("test_client_get_retweeters.yaml"),
        repeat_last=True,
    )
    run(settings, adapter)
    # the token was really sent, and tweepy really logged the request headers
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _m, _p, _q, h in adapter.requests)
    assert "Making API request" in caplog.text and "[redacted]" in caplog.text
    assert TOKEN not in caplog.text

    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".jsonl.zst") for p in files) and any(p.suffix == ".parquet" for p in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
        if path.name.endswith(".jsonl.zst"):
            assert TOKEN not in json.dumps(list(lake.read_raw_pages(path))), path
        if path.suffix == ".parquet":
            assert TOKEN not in json.dumps(pq.read_table(path).to_pylist(), default=str), path


# ------------------------------------------------------------------------------------------ resume, watermark
def test_a_killed_run_resumes_from_the_last_landed_page(make_settings):
    settings = make_settings()
    page = twarc_pages("brexit")[0]
    first = ReplayAdapter(fail_after=1)
    first.add("GET", SEARCH, Recorded.json(as_api_body(page)), end_of_results())
    with pytest.raises(KeyboardInterrupt):
        run(settings, first)
    cursor = json.loads((settings.state_dir / "x.json").read_text())["runs"]
    assert list(cursor.values())[0]["token"] == page["meta"]["next_token"]

    second = ReplayAdapter()
    second.add("GET", SEARCH, end_of_results())
    result = run(settings, second)
    assert result.resumed_pages == 1
    assert second.calls(SEARCH) and second.calls(SEARCH)[0]["next_token"] == page["meta"]["next_token"]
    assert result.rows == 155 and len(lake_rows(settings)) == 155


def test_a_run_killed_while_completing_roots_resumes_at_the_same_request(make_settings):
    settings = make_settings(max_roots=4, conversation_budget=10, quote_budget=0, retweet_budget=20)

    def adapter(fail_after: int | None = None) -> ReplayAdapter:
        replay, _ = brexit_adapter()
        replay.fail_after = fail_after
        replay.add(
            "GET", SEARCH, cassette_response("test_client_search_recent_tweets.yaml"), repeat_last=True
        )
        replay.add(
            "GET",
            r"/2/tweets/\d+/retweeted_by",
            cassette_response("test_client_get_retweeters.yaml"),
            repeat_last=True,
        )
        return replay

    uninterrupted = adapter()
    reference = make_settings(
        "reference", max_roots=4, conversation_budget=10, quote_budget=0, retweet_budget=20
    )
    run(reference, uninterrupted)
    everything = [(path, params) for _m, path, params, _h in uninterrupted.requests]
    assert len(everything) == 2 + 4 + 4

    killed = adapter(fail_after=5)  # dies on its 6th request, in the middle of the roots
    with pytest.raises(KeyboardInterrupt):
        run(settings, killed)
    resumed = adapter()
    result = run(settings, resumed)
    assert [(path, params) for _m, path, params, _h in resumed.requests] == everything[5:]
    assert result.resumed_pages == 5
    assert set(lake_rows(settings)) == set(lake_rows(reference))
    assert len(lake_rows(settings)) == 155 + 4 * 38


def test_next_window_continues_from_since_id_and_a_rerun_does_not(make_settings):
    settings = make_settings()
    page = twarc_pages("brexit")[0]
    adapter, _ = brexit_adapter()
    run(settings, adapter)

    tomorrow = Window(WINDOW.until, datetime(2021, 9, 23, tzinfo=UTC))
    nxt = ReplayAdapter()
    nxt.add("GET", SEARCH, end_of_results())
    run(settings, nxt, window=tomorrow, clock=datetime(2021, 9, 23, 1, tzinfo=UTC).timestamp())
    call = nxt.calls(SEARCH)[0]
    assert call["since_id"] == page["meta"]["newest_id"] and "start_time" not in call
    # nothing newer: the watermark keeps its since_id
    state = json.loads((settings.state_dir / "x.json").read_text())
    assert state["watermark"]["since_id"] == {"#brexit": page["meta"]["newest_id"]}

    again, _ = brexit_adapter()
    run(settings, again)  # re-running the first window fetches that window again, not "newer than"
    call = again.calls(SEARCH)[0]
    assert "since_id" not in call and call["start_time"] == "2021-09-22T00:00:00Z"
    assert len(lake_rows(settings)) == 155


# ------------------------------------------------------------------------------------------ staging model
def test_stg_x_posts_flags_synthetic_and_duplicate_retweets(make_settings):
    settings = make_settings(max_roots=1, conversation_budget=0, quote_budget=0, retweet_budget=100)
    adapter, page = brexit_adapter()
    root = "1440713161355583489"  # the most retweeted original of the page
    users = {u["id"]: u for u in page["includes"]["users"]}
    retweeters = [
        users[t["author_id"]]
        for t in page["data"]
        if {"type": "retweeted", "id": root} in t.get("referenced_tweets", [])
    ]
    recorded = json.loads(
        __import__("gzip").decompress(cassette_response("test_client_get_retweeters.yaml").body)
    )
    # the retweeted_by answer lists the retweeters seen in the page plus others
    body = {
        "data": [{k: u[k] for k in ("id", "name", "username")} for u in retweeters] + recorded["data"],
        "meta": {"result_count": len(retweeters) + len(recorded["data"])},
    }
    adapter.add("GET", rf"/2/tweets/{root}/retweeted_by", Recorded.json(body))
    run(settings, adapter)

    con = duckdb.connect()
    glob = str(settings.posts_dir / "platform=*" / "date=*" / "*.parquet")
    con.execute(f"create view src_posts as select * from read_parquet('{glob}', hive_partitioning = true)")
    staging = REPO / "sql" / "staging"
    con.execute(f"create table stg_posts as {(staging / 'stg_posts.sql').read_text()}")
    con.execute(f"create table stg_x_posts as {(staging / 'stg_x_posts.sql').read_text()}")
    got = con.execute("""
        select count(*) filter (where is_synthetic_retweet),
               count(*) filter (where is_duplicate_retweet),
               count(*) filter (where is_retweet and reshare_tree = 'api_star'),
               count(*) filter (where is_retweet),
               count(*) filter (where tweet_url is null),
               count(*)
        from stg_x_posts""").fetchone()
    real_retweets = sum(
        1
        for t in page["data"] + page["includes"]["tweets"]
        if any(r["type"] == "retweeted" for r in t.get("referenced_tweets", []))
    )
    n_synthetic = len({u["id"] for u in retweeters} | {u["id"] for u in recorded["data"]})
    assert got == (
        n_synthetic,
        len({u["id"] for u in retweeters}),
        real_retweets + n_synthetic,
        real_retweets + n_synthetic,
        n_synthetic,
        155 + n_synthetic,
    )
    assert len(retweeters) == 17


def test_cassettes_used_here_are_what_the_readme_says():
    # guards the replay helper: gzip bodies stored as YAML binary decode to the recorded JSON
    recorded = load_cassette(realdata("twitter_tweepy", "test_client_get_retweeters.yaml"))
    method, uri, response = recorded[0]
    assert (method, uri) == ("GET", "https://api.twitter.com/2/tweets/1415348607813832708/retweeted_by")
    assert response.body[:2] == b"\x1f\x8b" and response.headers["content-encoding"] == "gzip"
