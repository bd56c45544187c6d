"""Reddit source: the real PRAW client against a loopback server replaying PRAW's recorded cassettes.

Expected values are computed from the cassettes themselves (parent links, deletion markers, crosspost fields),
never from the code under test.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import prawcore
import pyarrow.dataset as ds
import pytest
import zstandard
from reddit_replay import ReplayServer, Seen, cassette_bodies, credentials_for

from pipeline import lake
from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError, SourceError
from pipeline.sources.base import Window
from pipeline.sources.reddit import (
    RedditSource,
    RedditUnavailable,
    Unit,
    build_reddit,
    deletion_flags,
    map_comment,
    map_submission,
    thread_id_from,
)

CASSETTES = "reddit_praw"
REPLACE_ALL = "TestCommentForest.test_replace__all.json"
CROSSPOSTS = [
    "TestSubmission.test_crosspost.json",
    "TestSubmission.test_crosspost__custom_title.json",
    "TestSubmission.test_crosspost__flair.json",
    "TestSubmission.test_crosspost__nsfw.json",
    "TestSubmission.test_crosspost__spoiler.json",
    "TestSubmission.test_crosspost__subreddit_object.json",
]
SECRET = "s3cret-never-logged"


@pytest.fixture(autouse=True)
def _quick_and_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No praw_* variables from the developer's shell; prawcore's own retry pauses skipped for speed."""
    for key in list(os.environ):
        if key.lower().startswith("praw_"):
            monkeypatch.delenv(key, raising=False)
    # prawcore's retry strategy class, looked up from the module that defines prawcore.Session
    retry_strategy = prawcore.Session.__init__.__globals__["FiniteRetryStrategy"]
    monkeypatch.setattr(retry_strategy, "_sleep_seconds", lambda self: None)


def make_settings(tmp_path: Path, **reddit: Any) -> Settings:
    section = {"max_retries": 2, "retry_base_seconds": 0.001, **reddit}
    return load_settings(data_dir=tmp_path / "data", overrides={"reddit": section}, environ={})


def ingest(
    settings: Settings,
    server: ReplayServer,
    *,
    window: Window | None = None,
    options: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> lake.IngestResult:
    source = RedditSource(settings)
    if window is None and run_id is None:
        run_id = lake.run_id_for(source.name, None, label="threads")
    return lake.ingest(
        source, settings, window, run_id=run_id, credentials=credentials_for(server), options=options
    )


def lake_rows(settings: Settings) -> list[dict[str, Any]]:
    files = list(settings.posts_dir.glob("platform=*/date=*/*.parquet"))
    if not files:
        return []
    dataset = ds.dataset(settings.posts_dir, format="parquet", partitioning="hive")
    return dataset.to_table().to_pylist()


def raw_text(settings: Settings) -> str:
    out = []
    for path in settings.raw_dir.rglob("*.jsonl.zst*"):
        with open(path, "rb") as fh:
            reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
            out.append(io.TextIOWrapper(reader, encoding="utf-8").read())
    return "".join(out)


def tree_from_cassette(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every t1 of a recorded thread (by fullname) and the submission, read straight from the cassette."""
    comments: dict[str, dict[str, Any]] = {}
    submission: dict[str, Any] = {}

    def walk(things: list[Any]) -> None:
        for thing in things:
            if thing["kind"] == "t1":
                comments.setdefault(thing["data"]["name"], thing["data"])
                if thing["data"].get("replies"):
                    walk(thing["data"]["replies"]["data"]["children"])

    for _request, body in cassette_bodies(path):
        if isinstance(body, list):
            submission = body[0]["data"]["children"][0]["data"]
            walk(body[1]["data"]["children"])
        else:
            walk(body["json"]["data"]["things"])
    return comments, submission


def depth(name: str, parents: dict[str, str]) -> int:
    level = 0
    while name in parents:
        name = parents[name]
        level += 1
    return level


# --------------------------------------------------------------------------------------------- full thread
def test_fully_expanded_thread_lands_every_comment_at_every_level(
    realdata: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cassette = realdata / CASSETTES / REPLACE_ALL
    expected, submission = tree_from_cassette(cassette)
    parents = {name: data["parent_id"] for name, data in expected.items()}
    expected_levels = max(depth(name, parents) for name in expected)
    assert (len(expected), expected_levels) == (541, 12)  # as the data manifest says

    settings = make_settings(tmp_path)
    caplog.set_level(logging.DEBUG)
    with ReplayServer([cassette]) as server:
        result = ingest(
            settings, server, options={"threads": ["https://www.reddit.com/r/funny/comments/3hahrw/"]}
        )
        morechildren = server.count("POST", "/api/morechildren")
        continued = sum(1 for s in server.requests if s.path.startswith("/comments/3hahrw/_/"))

    rows = lake_rows(settings)
    comments = {r["post_id"]: r for r in rows if r["kind"] == "comment"}
    assert set(comments) == {f"reddit:{name}" for name in expected}
    assert result.quarantined == 0
    # every parent is in the lake, and the deepest chain is 12 comments long
    ids = {r["post_id"] for r in rows}
    assert all(r["parent_id"] in ids for r in comments.values())
    lake_parents = {pid: r["parent_id"] for pid, r in comments.items()}
    assert max(depth(pid, lake_parents) for pid in comments) == expected_levels
    # 12 stubs needed /api/morechildren, 6 were "continue this thread" links
    assert (morechildren, continued) == (12, 6)
    root = next(r for r in rows if r["kind"] == "post")
    assert root["post_id"] == "reddit:t3_3hahrw" and root["community"] == "r/funny"
    assert root["reply_count"] == submission["num_comments"]
    # a fully expanded tree hides nothing: each comment's reply count is its landed replies
    landed_children = Counter(r["parent_id"] for r in comments.values())
    assert all(r["reply_count"] == landed_children[pid] for pid, r in comments.items())
    # deleted comments are flagged and kept, never dropped
    deleted = {
        f"reddit:{n}" for n, d in expected.items() if d["author"] == "[deleted]" or d["body"] == "[deleted]"
    }
    assert deleted and {pid for pid, r in comments.items() if r["is_deleted"]} == deleted
    assert all(
        comments[pid]["author_id"] is None for pid in deleted if expected[pid[7:]]["author"] == "[deleted]"
    )

    # the raw landing holds the API's JSON and where it came from, never credentials or tokens
    raw = raw_text(settings)
    pages = [json.loads(line) for line in raw.splitlines()]
    assert len(pages) == 1 and pages[0]["request"]["endpoint"] == "/comments/3hahrw/"
    assert len(pages[0]["more"]) == 18
    everything = raw + caplog.text + json.dumps(result.to_dict())
    everything += "".join(p.read_text() for p in settings.state_dir.glob("*.json"))
    for secret in (SECRET, "<ACCESS_TOKEN>", "Authorization", "bearer"):
        assert secret not in everything


def test_a_named_thread_is_expanded_whole_whatever_the_nightly_budget(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / REPLACE_ALL
    expected, _submission = tree_from_cassette(cassette)
    settings = make_settings(tmp_path, replace_more_limit=3)
    with ReplayServer([cassette]) as server:
        result = ingest(settings, server, options={"threads": ["3hahrw"]})
        expansions = server.count("POST", "/api/morechildren") + server.count("GET", "/comments/3hahrw/_/")
    assert expansions == 18
    comments = {r["post_id"] for r in lake_rows(settings) if r["kind"] == "comment"}
    assert comments == {f"reddit:{name}" for name in expected} and result.quarantined == 0


def test_budget_leaves_gaps_that_the_lake_shows(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / REPLACE_ALL
    expected, submission = tree_from_cassette(cassette)
    settings = make_settings(tmp_path)
    with ReplayServer([cassette]) as server:
        ingest(settings, server, options={"threads": ["3hahrw"], "replace_more": 3})
        expansions = server.count("POST", "/api/morechildren") + server.count("GET", "/comments/3hahrw/_/")
    assert expansions == 3

    rows = {r["post_id"]: r for r in lake_rows(settings)}
    landed = {pid for pid, r in rows.items() if r["kind"] == "comment"}
    assert 0 < len(landed) < len(expected)
    # nothing invented: every landed comment is a real one
    assert landed <= {f"reddit:{n}" for n in expected}
    children = Counter(r["parent_id"] for r in rows.values() if r["kind"] == "comment")
    # every comment that did not land sits under a landed item whose counts say replies are missing
    for name, data in expected.items():
        if f"reddit:{name}" in landed:
            continue
        ancestor = f"reddit:{data['parent_id']}"
        while ancestor not in rows:
            ancestor = f"reddit:{expected[ancestor[7:]]['parent_id']}"
        item = rows[ancestor]
        if item["kind"] == "post":
            assert item["reply_count"] == submission["num_comments"] > len(landed)
        else:
            assert item["reply_count"] > children[ancestor], (name, ancestor)


# --------------------------------------------------------------------------------------------- crossposts
def test_crossposts_become_shares_of_the_original_across_subreddits(realdata: Path, tmp_path: Path) -> None:
    cassettes = [realdata / CASSETTES / name for name in CROSSPOSTS]
    recorded: dict[str, dict[str, Any]] = {}
    for cassette in cassettes:
        for _request, body in cassette_bodies(cassette):
            if isinstance(body, list):
                data = body[0]["data"]["children"][0]["data"]
                recorded[data["name"]] = data
    crossposts = {n: d for n, d in recorded.items() if d.get("crosspost_parent")}
    assert len(crossposts) == 6

    settings = make_settings(tmp_path)
    with ReplayServer(cassettes) as server:
        ingest(settings, server, options={"threads": [n[3:] for n in crossposts]})
    rows = {r["post_id"]: r for r in lake_rows(settings)}
    for name, data in crossposts.items():
        share = rows[f"reddit:{name}"]
        assert share["kind"] == "share" and share["share_type"] == "crosspost"
        assert share["shared_id"] == f"reddit:{data['crosspost_parent']}"
        assert share["community"] == f"r/{data['subreddit'].lower()}"
        original = rows[share["shared_id"]]
        assert original["kind"] == "post"
        assert original["community"] == f"r/{data['crosspost_parent_list'][0]['subreddit'].lower()}"
        assert original["community"] != share["community"]


# --------------------------------------------------------------------------------------------- deletions
def test_deleted_and_removed_items_are_flagged_not_dropped(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / "TestReddit.test_info.json"
    ids: list[str] = []
    things: dict[str, dict[str, Any]] = {}
    for request, body in cassette_bodies(cassette):
        query = request["uri"].split("id=", 1)[1].split("&", 1)[0]
        ids.extend(query.replace("%2C", ",").split(","))
        for thing in body["data"]["children"]:
            if thing["kind"] in ("t1", "t3"):
                things[thing["data"]["name"]] = thing["data"]

    def flags(d: dict[str, Any]) -> tuple[bool, bool]:
        text = d.get("body", d.get("selftext"))
        return (text == "[deleted]" or d["author"] == "[deleted]", text == "[removed]")

    settings = make_settings(tmp_path)
    with ReplayServer([cassette]) as server:
        result = ingest(settings, server, options={"items": ids})
        assert server.count("GET", "/api/info") == 3
    rows = {r["post_id"]: r for r in lake_rows(settings)}
    assert set(rows) == {f"reddit:{n}" for n in things}
    assert result.quarantined == 0
    got = {n: (rows[f"reddit:{n}"]["is_deleted"], rows[f"reddit:{n}"]["is_removed"]) for n in things}
    assert got == {n: flags(d) for n, d in things.items()}
    assert sum(d for d, _ in got.values()) >= 9 and sum(r for _, r in got.values()) >= 8
    # the placeholder is not kept as the item's text
    assert all(rows[f"reddit:{n}"]["text"] is None for n, (d, r) in got.items() if r)


# --------------------------------------------------------------------------------------------- failures
def test_server_errors_are_retried_until_the_request_succeeds(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / "TestSubmission.test_comments.json"

    def fail_four_times(seen: Seen, attempt: int) -> str | None:
        return "500" if seen.path.startswith("/comments/") and attempt <= 4 else None

    settings = make_settings(tmp_path, max_retries=3)
    with ReplayServer([cassette], fault=fail_four_times) as server:
        result = ingest(settings, server, options={"threads": ["2gmzqe"]})
        attempts = server.count("GET", "/comments/2gmzqe")
    # prawcore tries 3 times, ripple's backoff asks again: the 5th attempt is answered
    assert attempts == 5
    assert result.quarantined == 0 and result.rows == 3


def test_timeouts_are_retried_with_backoff(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / "TestSubmission.test_comments.json"

    def slow_three_times(seen: Seen, attempt: int) -> Any:
        return ("delay", 1.6) if seen.path.startswith("/comments/") and attempt <= 3 else None

    settings = make_settings(tmp_path, max_retries=2)
    with ReplayServer([cassette], fault=slow_three_times) as server:
        source = RedditSource(settings)
        run_id = lake.run_id_for(source.name, None, label="timeouts")
        result = lake.ingest(
            source,
            settings,
            None,
            run_id=run_id,
            credentials=credentials_for(server, timeout=1),
            options={"threads": ["2gmzqe"]},
        )
        attempts = server.count("GET", "/comments/2gmzqe")
    # prawcore gives up after its 3 timed-out attempts; ripple's backoff asks a 4th time, which is answered
    assert attempts == 4 and result.rows == 3


def test_persistent_server_errors_end_the_run_with_a_clear_error(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / "TestSubmission.test_comments.json"
    settings = make_settings(tmp_path, max_retries=1)
    with ReplayServer([cassette], fault=lambda seen, n: "500" if "comments" in seen.path else None) as server:
        with pytest.raises(RedditUnavailable, match="still failing after 2 attempts.*resume"):
            ingest(settings, server, options={"threads": ["2gmzqe"]})
        assert server.count("GET", "/comments/2gmzqe") == 6  # bounded: 2 of ours x 3 of prawcore


def test_rejected_credentials_fail_at_once_with_source_error(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / "TestSubmission.test_comments.json"
    settings = make_settings(tmp_path)
    token_401 = ReplayServer([cassette], fault=lambda seen, n: "401" if "access_token" in seen.path else None)
    with token_401 as server:
        with pytest.raises(
            SourceError, match="access denied \\(HTTP 401.*token endpoint.*credentials"
        ) as err:
            ingest(settings, server, options={"threads": ["2gmzqe"]})
        assert server.count("POST", "/api/v1/access_token") == 1
        assert server.count("GET", "/comments/") == 0
    assert SECRET not in str(err.value)
    assert not list(settings.posts_dir.glob("**/*.parquet"))

    resource_401 = ReplayServer([cassette], fault=lambda seen, n: "401" if "comments" in seen.path else None)
    with resource_401 as server:
        with pytest.raises(SourceError, match="HTTP 401.*/comments/2gmzqe/"):
            ingest(settings, server, options={"threads": ["2gmzqe"]})
        # prawcore renews the token and tries 3 times in all; ripple (max_retries=2) adds no attempts
        assert server.count("GET", "/comments/2gmzqe") == 3


def test_malformed_json_is_quarantined_and_the_run_goes_on(realdata: Path, tmp_path: Path) -> None:
    cassettes = [
        realdata / CASSETTES / "TestSubmission.test_comments.json",
        realdata / CASSETTES / REPLACE_ALL,
    ]

    def bad_first_thread(seen: Seen, attempt: int) -> str | None:
        return "badjson" if seen.path.startswith("/comments/2gmzqe") else None

    settings = make_settings(tmp_path, max_retries=1)
    with ReplayServer(cassettes, fault=bad_first_thread) as server:
        result = ingest(settings, server, options={"threads": ["2gmzqe", "3hahrw"]})
    assert result.quarantined == 1
    assert result.quarantine_reasons == {"reddit API error": 1}
    quarantined = [
        json.loads(line) for line in next(settings.quarantine_dir.rglob("*.jsonl")).read_text().splitlines()
    ]
    assert "not valid JSON" in quarantined[0]["reason"] and quarantined[0]["location"] == "/comments/2gmzqe/"
    rows = lake_rows(settings)
    assert {r["root_id"] for r in rows} == {"reddit:t3_3hahrw"}
    assert sum(r["kind"] == "comment" for r in rows) == 541


# --------------------------------------------------------------------------------------------- nightly runs
def listing_items(realdata: Path) -> list[dict[str, Any]]:
    cassette = realdata / CASSETTES / "TestSubredditListings.test_new.json"
    ((_request, body),) = cassette_bodies(cassette)
    return [t["data"] for t in body["data"]["children"]]


def nightly(
    realdata: Path, tmp_path: Path, fault: Any = None, **reddit: Any
) -> tuple[Settings, ReplayServer, Window]:
    items = listing_items(realdata)
    created = sorted(float(i["created_utc"]) for i in items)
    until = datetime.fromtimestamp(created[-1] + 1, UTC)
    since = datetime.fromtimestamp(created[20], UTC)  # the walk stops at the 21st oldest item
    settings = make_settings(tmp_path, subreddits=["AskReddit"], **{"revisit_days": 0, **reddit})
    server = ReplayServer(
        [realdata / CASSETTES / "TestSubredditListings.test_new.json"], synthesize_threads=True, fault=fault
    )
    return settings, server, Window(since, until)


def test_nightly_run_walks_the_listing_back_to_the_window_and_fetches_each_thread(
    realdata: Path, tmp_path: Path
) -> None:
    items = listing_items(realdata)
    settings, server, window = nightly(realdata, tmp_path)
    expected = {
        i["id"] for i in items if window.since.timestamp() <= i["created_utc"] < window.until.timestamp()
    }
    with server:
        result = ingest(settings, server, window=window)
        listing_requests = server.count("GET", "/r/AskReddit/new")
        fetched = [s.path.split("/")[2] for s in server.requests if s.path.startswith("/comments/")]
    assert listing_requests == 1
    assert sorted(fetched) == sorted(expected) and len(expected) == 80
    assert result.quarantined == 0
    rows = lake_rows(settings)
    assert {r["post_id"] for r in rows} == {f"reddit:t3_{i['id']}" for i in items}
    assert {r["community"] for r in rows} == {"r/askreddit"}
    state = json.loads((settings.state_dir / "reddit.json").read_text())
    mark = state["watermark"]["units"]["r/askreddit"]
    assert mark["newest"] == max(i["created_utc"] for i in items)
    assert state["runs"] == {}


def test_a_run_killed_midway_resumes_without_refetching_or_duplicates(realdata: Path, tmp_path: Path) -> None:
    outage = {"on": True}

    def drop_after_30_threads(seen: Seen, attempt: int) -> str | None:
        threads = sum(1 for s in server.requests if s.path.startswith("/comments/"))
        return "drop" if outage["on"] and seen.path.startswith("/comments/") and threads > 30 else None

    settings, server, window = nightly(realdata, tmp_path, fault=drop_after_30_threads, max_retries=1)
    with server:
        with pytest.raises(RedditUnavailable):
            ingest(settings, server, window=window)
        first = [s.path for s in server.requests if s.path.startswith("/comments/")]
        assert not list(settings.posts_dir.glob("**/*.parquet"))  # nothing half-written
        outage["on"] = False
        server.requests.clear()
        result = ingest(settings, server, window=window)
        second = [s.path for s in server.requests if s.path.startswith("/comments/")]
    landed_first = first[:30]
    assert result.resumed_pages == 1 + 30  # the listing page and 30 threads came back from the raw landing
    assert not set(landed_first) & set(second)  # nothing landed is fetched again
    assert len(landed_first) + len(second) == 80

    rows = lake_rows(settings)
    post_ids = [r["post_id"] for r in rows]
    assert len(post_ids) == len(set(post_ids)) == 100
    # the watermark advances once, when the resumed run commits
    mark = json.loads((settings.state_dir / "reddit.json").read_text())["watermark"]["units"]["r/askreddit"]
    assert mark["newest"] == max(i["created_utc"] for i in listing_items(realdata))

    clean = make_settings(tmp_path / "clean", subreddits=["AskReddit"], revisit_days=0)
    with ReplayServer(
        [realdata / CASSETTES / "TestSubredditListings.test_new.json"], synthesize_threads=True
    ) as s2:
        ingest(clean, s2, window=window)
    assert sorted(post_ids) == sorted(r["post_id"] for r in lake_rows(clean))


def test_revisit_refetches_recent_threads_the_listing_no_longer_reaches(
    realdata: Path, tmp_path: Path
) -> None:
    items = listing_items(realdata)
    settings, server, window = nightly(realdata, tmp_path, revisit_days=1)
    server = ReplayServer(
        [
            realdata / CASSETTES / "TestSubredditListings.test_new.json",
            realdata / CASSETTES / "TestSubmission.test_comments.json",
        ],
        synthesize_threads=True,
    )
    # an earlier run saw thread 2gmzqe 12 hours before this window's end; the listing no longer shows it
    seen_at = window.until.timestamp() - 12 * 3600
    state = {
        "watermark": {"units": {"r/askreddit": {"newest": seen_at, "recent": {"2gmzqe": seen_at}}}},
        "runs": {},
    }
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "reddit.json").write_text(json.dumps(state))
    with server:
        ingest(settings, server, window=window)
        fetched = {s.path.split("/")[2] for s in server.requests if s.path.startswith("/comments/")}
    assert fetched == {i["id"] for i in items} | {"2gmzqe"}
    mark = json.loads((settings.state_dir / "reddit.json").read_text())["watermark"]["units"]["r/askreddit"]
    assert set(mark["recent"]) == fetched


# --------------------------------------------------------------------------------------------- pure parts
def test_mapping_flags_deletions_from_every_era() -> None:
    assert deletion_flags({"author": "x", "removed_by_category": "moderator"}, "text") == (False, True)
    assert deletion_flags({"author": "x", "removed_by_category": "deleted"}, "") == (True, False)
    assert deletion_flags(
        {"author": "x", "_meta": {"removal_type": "deleted", "was_deleted_later": True}}, "a"
    ) == (
        True,
        False,
    )
    assert deletion_flags({"author": "x", "_meta": {"removal_type": "removed"}}, "a") == (False, True)
    assert deletion_flags({"author": "[deleted]"}, "[removed]") == (True, True)
    assert deletion_flags({"author": "x"}, "fine") == (False, False)
    comment = map_comment(
        {
            "id": "c13",
            "parent_id": "t3_17863",
            "link_id": "t3_17863",
            "body": "[removed]",
            "author": "bob",
            "subreddit": "Reddit.com",
            "created_utc": "1134365188",
        }
    )
    assert comment["post_id"] == "reddit:t1_c13" and comment["text"] is None and comment["is_removed"]
    assert comment["community"] == "r/reddit.com" and comment["root_id"] == "reddit:t3_17863"
    (post,) = map_submission(
        {
            "id": "87",
            "title": "t",
            "selftext": "",
            "is_self": False,
            "url": "http://x",
            "author": "kn0thing",
            "subreddit": "reddit.com",
            "created_utc": 1119552233,
        }
    )
    assert post["post_id"] == "reddit:t3_87" and post["url"] == "http://x" and post["text"] is None


def test_thread_ids_from_ids_fullnames_and_urls() -> None:
    for value in (
        "3hahrw",
        "t3_3hahrw",
        "https://www.reddit.com/r/funny/comments/3hahrw/ba_dum_tsss/",
        "https://redd.it/3hahrw",
        "reddit.com/r/funny/comments/3hahrw/x/cu5v5h7/",
    ):
        assert thread_id_from(value) == "3hahrw"
    with pytest.raises(ConfigError):
        thread_id_from("not a thread!")


def test_searches_and_subreddits_become_listing_units() -> None:
    assert Unit.subreddit("r/Python").path == "/r/Python/new" and Unit.subreddit("Python").key == "r/python"
    site_wide = Unit.search("ripple effect")
    assert site_wide.path == "/search" and dict(site_wide.params)["q"] == "ripple effect"
    scoped = Unit.search({"query": "flood", "subreddit": "r/news"})
    assert scoped.path == "/r/news/search" and dict(scoped.params)["restrict_sr"] == 1
    assert dict(scoped.params)["sort"] == "new" and scoped.key == "search:r/news:flood"
    with pytest.raises(ConfigError):
        Unit.search({"subreddit": "news"})


def test_client_is_configured_through_praw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("praw_client_id", "from-env")
    monkeypatch.setenv("praw_client_secret", "env-secret")
    monkeypatch.setenv("praw_user_agent", "ripple tests")
    reddit = build_reddit(settings, {"oauth_url": "http://127.0.0.1:9", "reddit_url": "http://127.0.0.1:9"})
    assert reddit.config.client_id == "from-env"
    assert reddit.config.oauth_url == "http://127.0.0.1:9"
    assert reddit.config.check_for_updates is False
    # keyword arguments (an Airflow connection) win over the environment, as in PRAW
    assert build_reddit(settings, {"client_id": "from-connection"}).config.client_id == "from-connection"
    monkeypatch.delenv("praw_client_id")
    with pytest.raises(ConfigError, match="client_id"):
        build_reddit(settings, {})


# --------------------------------------------------------------------------------------------- staging model
def staged(settings: Settings) -> dict[str, dict[str, Any]]:
    import duckdb

    sql = Path(__file__).resolve().parents[2] / "sql" / "staging"
    con = duckdb.connect()
    con.execute(
        f"create view src_posts as select * from read_parquet('{settings.posts_dir}/*/*/*.parquet', "
        "hive_partitioning = true)"
    )
    con.execute("create table stg_posts as " + (sql / "stg_posts.sql").read_text())
    con.execute("create table stg_reddit_posts as " + (sql / "stg_reddit_posts.sql").read_text())
    rel = con.sql(
        "select post_id, kind, thing_kind, fullname, subreddit, replies_landed, replies_hidden, "
        "thread_comments_landed, thread_comments_missing, has_hidden_replies, is_thread_complete "
        "from stg_reddit_posts"
    )
    return {row[0]: dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()}


def test_staging_tells_a_truncated_thread_from_a_whole_one(realdata: Path, tmp_path: Path) -> None:
    cassette = realdata / CASSETTES / REPLACE_ALL
    expected, submission = tree_from_cassette(cassette)
    whole, short = make_settings(tmp_path / "whole"), make_settings(tmp_path / "short")
    with ReplayServer([cassette]) as server:
        ingest(whole, server, options={"threads": ["3hahrw"]})
        ingest(short, server, options={"threads": ["3hahrw"], "replace_more": 3})

    rows = staged(whole)
    root = rows["reddit:t3_3hahrw"]
    assert (root["thing_kind"], root["fullname"], root["subreddit"]) == ("t3", "t3_3hahrw", "funny")
    assert root["thread_comments_landed"] == len(expected)
    # Reddit counts 2 comments it no longer returns: the thread is reported short by exactly that many
    assert root["thread_comments_missing"] == submission["num_comments"] - len(expected) == 2
    assert root["has_hidden_replies"] is False and root["is_thread_complete"] is False
    assert all(r["replies_hidden"] == 0 for r in rows.values() if r["kind"] == "comment")

    rows = staged(short)
    root = rows["reddit:t3_3hahrw"]
    landed = sum(r["kind"] == "comment" for r in rows.values())
    assert root["thread_comments_missing"] == submission["num_comments"] - landed > 2
    assert root["has_hidden_replies"] is True and root["is_thread_complete"] is False
    assert any(r["replies_hidden"] for r in rows.values() if r["kind"] == "comment")


def test_a_thread_cut_by_the_budget_is_an_incomplete_cascade(realdata: Path, tmp_path: Path) -> None:
    import duckdb

    from pipeline.warehouse import build_database

    cassette = realdata / CASSETTES / REPLACE_ALL
    whole, short = make_settings(tmp_path / "whole"), make_settings(tmp_path / "short")
    with ReplayServer([cassette]) as server:
        ingest(whole, server, options={"threads": ["3hahrw"]})
        ingest(short, server, options={"threads": ["3hahrw"], "replace_more": 3})
    complete = {}
    for name, settings in (("whole", whole), ("short", short)):
        con = duckdb.connect()
        build_database(con, settings)
        rows = con.sql(
            "select is_complete, missing_parents, size from fct_cascades where root_id = 'reddit:t3_3hahrw'"
        ).fetchall()
        complete[name] = rows[0]
        con.close()
    assert complete["whole"][0] is True and complete["whole"][2] == 542
    # every landed comment has its parent, yet the cascade is known to be short
    assert complete["short"][0] is False and complete["short"][1] == 0 and complete["short"][2] < 542


# --------------------------------------------------------------------------------------------- no network
def test_without_network_each_retry_is_one_short_line_and_the_error_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    import praw.config
    from typer.testing import CliRunner

    from pipeline.cli import app

    with socket.socket() as sock:  # a port nothing listens on: every connection is refused
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    (tmp_path / "praw.ini").write_text(
        f"[ripple]\nclient_id = id\nclient_secret = {SECRET}\nuser_agent = ripple tests\n"
        f"oauth_url = {closed}\nreddit_url = {closed}\n"
    )
    monkeypatch.chdir(tmp_path)
    # PRAW reads praw.ini once per process: make it read this one
    monkeypatch.setattr(praw.config.Config, "CONFIG", None)
    monkeypatch.delenv("RIPPLE_DEBUG", raising=False)
    env = {
        "PRAW_ALLOW_ENDPOINT_OVERRIDE": "1",
        "RIPPLE__REDDIT__MAX_RETRIES": "2",
        "RIPPLE__REDDIT__RETRY_BASE_SECONDS": "0.01",
        "RIPPLE_DATA_DIR": str(tmp_path / "data"),
    }
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(app, ["ingest", "reddit", "--thread", "2gmzqe", "-q"], env=env)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "error: reddit: GET /comments/2gmzqe/: still failing after 3 attempts (connection refused); run the "
        "same window again to resume from the last checkpoint"
    ]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(" in ")[0] for r in warnings] == [
        "reddit: GET /comments/2gmzqe/: connection refused; retry 1 of 2",
        "reddit: GET /comments/2gmzqe/: connection refused; retry 2 of 2",
    ]
    assert all(len(r.getMessage()) < 100 for r in warnings)
    assert SECRET not in caplog.text + result.output
