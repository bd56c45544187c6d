"""The shared retry and rate-limit policy (pipeline.retry): waits, bounds, reset headers, log lines."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from pipeline.config import load_settings
from pipeline.retry import GaveUp, Retryable, RetryPolicy, reset_wait

NOW = 1_700_000_000.0


def policy(**kwargs) -> tuple[RetryPolicy, list[float]]:
    sleeps: list[float] = []
    return RetryPolicy("test", sleep=sleeps.append, clock=lambda: NOW, **kwargs), sleeps


def failing(times: int, failure: Retryable, result: str = "ok"):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise failure
        return result

    return fn, calls


def test_transient_failures_back_off_exponentially_up_to_the_cap() -> None:
    retry, sleeps = policy(max_retries=6, base_seconds=3, max_seconds=20)
    fn, calls = failing(5, Retryable("HTTP 503"))
    assert retry.call("api: GET /x", fn) == "ok"
    assert sleeps == [3, 6, 12, 20, 20] and calls["n"] == 6


def test_jitter_keeps_each_pause_between_half_and_all_of_the_backoff() -> None:
    retry, sleeps = policy(max_retries=4, base_seconds=2, max_seconds=100, jitter=True)
    fn, _ = failing(4, Retryable("timed out"))
    retry.call("api", fn)
    assert all(b / 2 <= s <= b for s, b in zip(sleeps, [2, 4, 8, 16], strict=True))


def test_giving_up_says_what_how_often_and_why_in_one_line() -> None:
    retry, sleeps = policy(max_retries=2, base_seconds=1)
    fn, calls = failing(99, Retryable("HTTP 500"))
    with pytest.raises(GaveUp) as err:
        retry.call("reddit: GET /r/x/new", fn)
    assert calls["n"] == 3 and sleeps == [1, 2]
    assert str(err.value) == "reddit: GET /r/x/new: still failing after 3 attempts (HTTP 500)"


def test_rate_limits_wait_for_the_reset_and_do_not_use_up_the_retries() -> None:
    retry, sleeps = policy(max_retries=0)
    fn, calls = failing(3, Retryable("HTTP 429", wait=30, rate_limited=True))
    assert retry.call("api", fn) == "ok"
    assert sleeps == [30, 30, 30] and calls["n"] == 4


def test_a_reset_too_far_away_or_too_many_waits_stop_at_once() -> None:
    retry, sleeps = policy(max_reset_wait=600)
    fn, _ = failing(1, Retryable("HTTP 429", wait=3600, rate_limited=True))
    with pytest.raises(GaveUp, match="rate limited; the reset is 60 min away") as err:
        retry.call("api", fn)
    assert sleeps == [] and err.value.wait == 3600
    retry, sleeps = policy(max_rate_limit_waits=2)
    fn, calls = failing(9, Retryable("HTTP 429", rate_limited=True))
    with pytest.raises(GaveUp, match=r"after 2 waits"):
        retry.call("api", fn)
    assert sleeps == [60.0, 60.0] and calls["n"] == 3  # no announced reset: a minute


def test_other_exceptions_are_not_retried() -> None:
    retry, sleeps = policy()

    def broken() -> None:
        raise KeyError("no")

    with pytest.raises(KeyError):
        retry.call("api", broken)
    assert sleeps == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 121.0),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW + 300, UTC), usegmt=True)}, 301.0),
        ({"x-rate-limit-reset": str(int(NOW) + 90)}, 91.0),  # X: Unix time
        ({"x-ratelimit-reset": "42"}, 43.0),  # Reddit: seconds from now
        ({"ratelimit-reset": str(int(NOW) + 10)}, 11.0),  # Bluesky: Unix time
        ({"X-RateLimit-Reset": datetime.fromtimestamp(NOW + 60, UTC).isoformat()}, 61.0),  # Mastodon
        ({"x-rate-limit-reset": str(int(NOW) - 50)}, 1.0),  # already past: go again at once
        ({"x-rate-limit-reset": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_reset_headers_of_every_platform(headers, expected) -> None:
    assert reset_wait(headers, clock=lambda: NOW) == expected


def test_each_retry_logs_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    retry, _ = policy(max_retries=2, base_seconds=1)
    fn, _ = failing(2, Retryable("cannot connect"))
    retry.call("reddit: GET /r/python/new", fn)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == [
        "reddit: GET /r/python/new: cannot connect; retry 1 of 2 in 1.0 s",
        "reddit: GET /r/python/new: cannot connect; retry 2 of 2 in 2.0 s",
    ]


def test_policy_comes_from_the_platform_and_its_settings(tmp_path) -> None:
    settings = load_settings(
        data_dir=tmp_path, overrides={"reddit": {"max_retries": 7, "retry_base_seconds": 0.5}}, environ={}
    )
    reddit = RetryPolicy.from_settings(settings, "reddit")
    assert (reddit.max_retries, reddit.base_seconds, reddit.max_seconds, reddit.jitter) == (
        7,
        0.5,
        120.0,
        True,
    )
    x = RetryPolicy.from_settings(settings, "x")
    assert (x.max_retries, x.base_seconds, x.jitter, x.max_reset_wait) == (5, 2.0, False, 16 * 60)
