"""One retry and rate-limit policy for every source that talks to an API (built on ``tenacity``).

A source wraps one request in :meth:`RetryPolicy.call` and turns the failures worth retrying into
:class:`Retryable` (a short ``problem`` such as ``HTTP 503``; ``wait`` when the server said how long to wait,
e.g. from :func:`reset_wait`). Everything else propagates at once. Transient failures are retried with
exponential backoff (``retry_base_seconds`` x 2^n, at most ``retry_max_seconds``, optionally jittered) up to
``max_retries`` times; rate limits wait until the reset the server announced, up to ``max_reset_wait`` seconds
and ``max_rate_limit_waits`` times. When the policy gives up it raises :class:`GaveUp`, which the source turns
into its own one-line error.

Each retry logs one short line (what, attempt n of m, next wait); the original exception is logged at DEBUG.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import tenacity

log = logging.getLogger(__name__)

T = TypeVar("T")

#: headers that say when a rate-limit window resets, in the order they are trusted
RESET_HEADERS = ("retry-after", "x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset")
#: a reset value above this is a Unix time, below it a number of seconds from now
_EPOCH_THRESHOLD = 1_000_000_000
#: third-party loggers that log each of their own retries at WARNING; quiet unless RIPPLE_DEBUG is set
LIBRARY_LOGGERS = ("prawcore", "praw", "tweepy", "urllib3", "requests", "httpx", "atproto", "mastodon")


class Retryable(Exception):
    """A failure worth another try: ``problem`` is short, ``wait`` the seconds the server asked for."""

    def __init__(self, problem: str, *, wait: float | None = None, rate_limited: bool = False):
        super().__init__(problem)
        self.problem = problem
        self.wait = wait
        self.rate_limited = rate_limited


class GaveUp(Exception):
    """The policy stopped retrying ``what``; ``last`` is the last failure."""

    def __init__(self, what: str, last: Retryable, attempts: int, waits: int, wait: float | None = None):
        self.what, self.last, self.attempts, self.waits, self.wait = what, last, attempts, waits, wait
        if last.rate_limited:
            minutes = (wait or 0) / 60
            message = f"{what}: rate limited; the reset is {minutes:.0f} min away (after {waits} waits)"
        else:
            message = f"{what}: still failing after {attempts} attempts ({last.problem})"
        super().__init__(message)


@dataclass
class RetryPolicy:
    """How one platform's requests are retried. ``sleep`` and ``clock`` are injectable for tests."""

    name: str
    max_retries: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 120.0
    jitter: bool = False
    #: a rate-limit reset further away than this stops the run (a re-run resumes)
    max_reset_wait: float = 16 * 60
    max_rate_limit_waits: int = 20
    #: wait when the server says "rate limited" without saying until when
    default_reset_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Any, platform: str, **overrides: Any) -> RetryPolicy:
        """The policy of ``platform``: its declared defaults, then ``[<platform>] max_retries``,
        ``retry_base_seconds``, ``retry_max_seconds`` and ``max_rate_limit_wait_seconds`` (those it has),
        then ``overrides``."""
        from pipeline.platforms import platform_spec

        values: dict[str, Any] = {"name": platform, **platform_spec(platform).retry}
        try:
            section: Any = settings.section(platform)
        except KeyError:  # a platform without a settings section keeps its declared defaults
            section = {}
        for key, attr in (
            ("max_retries", "max_retries"),
            ("retry_base_seconds", "base_seconds"),
            ("retry_max_seconds", "max_seconds"),
            ("max_rate_limit_wait_seconds", "max_reset_wait"),
        ):
            if key in section and section[key] is not None:
                values[attr] = section[key]
        values.update(overrides)
        values["max_retries"] = int(values["max_retries"])
        return cls(**values)

    def backoff(self, retry: int) -> float:
        """Pause before transient retry number ``retry`` (1, 2, ...)."""
        delay = min(self.base_seconds * 2 ** (retry - 1), self.max_seconds)
        return delay * (0.5 + random.random() / 2) if self.jitter else delay

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, retried while it raises :class:`Retryable`; :class:`GaveUp` when the policy stops."""
        run = _Attempts(self, what)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Retryable),
            stop=run.stop,
            wait=run.wait,
            sleep=self.sleep,
            before_sleep=run.log,
            reraise=True,
        )
        try:
            return retrying(fn)
        except Retryable as exc:
            raise GaveUp(what, exc, run.attempts, run.waits, run.refused_wait) from None


class _Attempts:
    """Counts of one :meth:`RetryPolicy.call`: transient failures and rate-limit waits are bounded apart."""

    def __init__(self, policy: RetryPolicy, what: str):
        self.policy, self.what = policy, what
        self.attempts = 1
        self.waits = 0
        self.stopping = False
        self.refused_wait: float | None = None

    @staticmethod
    def _failure(state: tenacity.RetryCallState) -> Retryable:
        exc = state.outcome.exception() if state.outcome is not None else None
        assert isinstance(exc, Retryable)
        return exc

    def wait(self, state: tenacity.RetryCallState) -> float:
        """Decide after each failure (tenacity asks for the wait before it asks whether to stop)."""
        failure, policy = self._failure(state), self.policy
        self.stopping = False
        if failure.rate_limited:
            wait = failure.wait if failure.wait is not None else policy.default_reset_wait
            if wait > policy.max_reset_wait or self.waits >= policy.max_rate_limit_waits:
                self.refused_wait, self.stopping = wait, True
                return 0.0
            self.waits += 1
            return wait
        if self.attempts > policy.max_retries:
            self.stopping = True
            return 0.0
        wait = failure.wait if failure.wait is not None else policy.backoff(self.attempts)
        self.attempts += 1
        return min(wait, policy.max_reset_wait)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        return self.stopping

    def log(self, state: tenacity.RetryCallState) -> None:
        failure = self._failure(state)
        if failure.rate_limited:
            log.warning(
                "%s: rate limited; waiting %.0f s for the reset (wait %d of at most %d)",
                self.what,
                state.upcoming_sleep,
                self.waits,
                self.policy.max_rate_limit_waits,
            )
        else:
            log.warning(
                "%s: %s; retry %d of %d in %.1f s",
                self.what,
                failure.problem,
                self.attempts - 1,
                self.policy.max_retries,
                state.upcoming_sleep,
            )
        log.debug("%s: the failure behind that retry", self.what, exc_info=failure.__cause__ or failure)


def reset_wait(headers: Mapping[str, Any] | None, clock: Callable[[], float] = time.time) -> float | None:
    """Seconds until the rate-limit window resets, from ``Retry-After``, ``x-rate-limit-reset`` (X),
    ``x-ratelimit-reset`` (Reddit) or ``ratelimit-reset`` (Bluesky, Mastodon); None when none is usable.

    A value may be seconds from now, a Unix time, an HTTP date or an ISO time. One second is added so
    that the request lands after the reset, not on it.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in RESET_HEADERS:
        value = lowered.get(name)
        moment = _reset_moment(str(value).strip(), clock()) if value not in (None, "") else None
        if moment is not None:
            return max(moment - clock(), 0.0) + 1.0
    return None


def _reset_moment(value: str, now: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number if number > _EPOCH_THRESHOLD else now + number
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def describe(exc: BaseException) -> str:
    """A short description of a network failure (no URLs, no nested reprs): what a log line needs."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        original = getattr(current, "original_exception", None)
        current = (
            original if isinstance(original, BaseException) else (current.__cause__ or current.__context__)
        )
    names = " ".join(type(e).__name__ for e in chain) + " " + " ".join(str(e) for e in chain[-2:])
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    if "NameResolution" in names or "gaierror" in names or "Name or service not known" in names:
        return "cannot resolve the host name"
    if "Timeout" in names or "timed out" in names:
        return "timed out"
    if "ConnectionRefused" in names or "Connection refused" in names:
        return "connection refused"
    if "RemoteDisconnected" in names or "ConnectionReset" in names or "aborted" in names:
        return "connection dropped"
    if "ConnectionError" in names or "NewConnectionError" in names:
        return "cannot connect"
    return type(chain[-1]).__name__


def quiet_libraries(debug: bool) -> None:
    """Called where a command line sets up logging: the HTTP libraries' own retry warnings are hidden
    (ripple logs one line per retry itself) unless ``debug`` (``RIPPLE_DEBUG=1``), which shows everything,
    ripple's DEBUG lines with the failures behind each retry included."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.ERROR)
    if debug:
        logging.getLogger("pipeline").setLevel(logging.DEBUG)
