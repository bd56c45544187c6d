"""X (Twitter): live collection through the API v2 with tweepy, and the v2 tweet -> Post mapping.

The mapping (:func:`tweet_to_post`, :func:`map_response`) is shared with the archive import
(:mod:`pipeline.sources.x_archive`): a tweet reads the same whether it came from tonight's search or from a
twarc file collected years ago.

What one nightly run does (docs/sources/x.md has the details and the reasons):

1. every ``[x] queries`` entry is searched (``GET /2/tweets/search/recent``) with the expansions and fields
   a Post needs, page by page; the next night starts after the newest tweet seen (``since_id`` watermark);
2. the threads the results touched become *roots*; roots that were only known by id are looked up;
3. for each root, within the per-root budgets: its conversation (``conversation_id:<root>`` search), its quote
   tweets and its retweeters.

Every response is landed untouched (with the endpoint and parameters, never the token) before the next
request, and the position is checkpointed after each landed page, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from pipeline.config import Settings
from pipeline.errors import SourceError
from pipeline.retry import GaveUp, Retryable, RetryPolicy, describe, reset_wait
from pipeline.schema import new_post
from pipeline.sources.base import FetchContext, Reject

log = logging.getLogger(__name__)

PLATFORM = "x"
TOKEN_ENV = "RIPPLE_X_BEARER_TOKEN"

#: what every tweet request asks for: author, thread, references (with their authors), metrics, entities,
#: language, community and the full text of long posts
EXPANSIONS = ("author_id", "referenced_tweets.id", "referenced_tweets.id.author_id", "in_reply_to_user_id")
TWEET_FIELDS = (
    "author_id",
    "community_id",
    "conversation_id",
    "created_at",
    "entities",
    "in_reply_to_user_id",
    "lang",
    "note_tweet",
    "public_metrics",
    "referenced_tweets",
)
USER_FIELDS = ("username",)

#: per-endpoint page sizes the API accepts
SEARCH_PAGE = (10, 100)
QUOTES_PAGE = (10, 100)
RETWEETERS_PAGE = (1, 100)
LOOKUP_BATCH = 100

#: recent search reaches back 7 days; end_time must be at least 10 s before the request
RECENT_REACH = timedelta(days=7) - timedelta(minutes=1)
END_TIME_MARGIN = timedelta(seconds=30)
#: Twitter's snowflake epoch (ms): the creation time is encoded in every tweet id
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657

SYNTHETIC_RETWEET_PREFIX = "x:rt:"
_TWITTER_HOSTS = re.compile(r"^https?://(?:[a-z]+\.)?(?:twitter\.com|x\.com|t\.co)(?:/|$)", re.IGNORECASE)
_HTML_ESCAPES = re.compile(r"&(amp|lt|gt);")
_UNESCAPE = {"amp": "&", "lt": "<", "gt": ">"}


# ============================================================================================ mapping
@dataclass
class PageIndex:
    """The objects of one response page, by id: what a tweet's references can be resolved against."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)


def is_tweet(obj: Any) -> bool:
    """A v2 tweet object always has ``id`` and ``text`` (default fields); users and count buckets do not."""
    return isinstance(obj, dict) and obj.get("id") is not None and isinstance(obj.get("text"), str)


def _dicts(value: Any) -> list[dict[str, Any]]:
    # some archive writers (R's jsonlite) store empty lists as {}: anything but a list counts as empty
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def references(tweet: dict[str, Any]) -> dict[str, str]:
    """``{"replied_to": id, "quoted": id, "retweeted": id}`` (the types present) of a tweet."""
    refs: dict[str, str] = {}
    for ref in _dicts(tweet.get("referenced_tweets")):
        if ref.get("type") and ref.get("id") is not None:
            refs.setdefault(str(ref["type"]), str(ref["id"]))
    return refs


def thread_root(tweet: dict[str, Any], index: PageIndex) -> str | None:
    """Native id of the conversation a tweet belongs to.

    ``conversation_id`` when the tweet has it; otherwise (archives collected without that field) the reply
    chain is climbed through the page's tweets; ``None`` when the chain leaves the page before reaching a
    tweet that starts a thread.
    """
    current, seen = tweet, set()
    while True:
        if current.get("conversation_id"):
            return str(current["conversation_id"])
        parent = references(current).get("replied_to")
        if parent is None:
            return str(current["id"])
        if parent in seen or parent not in index.tweets:
            return None
        seen.add(parent)
        current = index.tweets[parent]


def tweet_text(tweet: dict[str, Any]) -> str | None:
    """The full text: ``note_tweet.text`` for long posts, else ``text``, with X's HTML escaping undone."""
    note = tweet.get("note_tweet")
    text = (
        note.get("text")
        if isinstance(note, dict) and isinstance(note.get("text"), str)
        else tweet.get("text")
    )
    if not isinstance(text, str):
        return None
    # X escapes exactly &, < and > (as &amp; &lt; &gt;); one pass undoes it without touching other entities
    return _HTML_ESCAPES.sub(lambda m: _UNESCAPE[m.group(1)], text)


def external_url(tweet: dict[str, Any]) -> str | None:
    """The first link to outside X (quoted tweets and attached media are links to x.com and are skipped)."""
    entities = tweet.get("entities")
    if not isinstance(entities, dict):
        return None
    for entity in _dicts(entities.get("urls")):
        url = entity.get("unwound_url") or entity.get("expanded_url") or entity.get("url")
        if isinstance(url, str) and url and not _TWITTER_HOSTS.match(url):
            return url
    return None


def _metric(metrics: dict[str, Any], *names: str) -> int | None:
    values = [metrics.get(name) for name in names]
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        return None
    return sum(values)  # type: ignore[arg-type]


def tweet_to_post(tweet: dict[str, Any], index: PageIndex) -> dict[str, Any] | Reject:
    """Map one v2 tweet object (with the page's includes in ``index``) to a Post.

    * a retweet is a share (``share_type='retweet'``) of the original: X's API always points a retweet at the
      original tweet, never at the retweet it was seen through, so retweet cascades are stars;
    * a reply is a comment (``parent_id`` = replied_to, ``root_id`` = conversation); a reply that also quotes
      stays a comment in its thread and records the quoted tweet in ``shared_id`` (``share_type='quote'``);
    * a quote that replies to nothing is a share (``share_type='quote'``) of the quoted tweet;
    * anything else starts a thread (``kind='post'``).
    """
    if not is_tweet(tweet):
        return Reject("not a tweet object (no id and text)", tweet)
    native_id = str(tweet["id"])
    refs = references(tweet)
    kind, share_type, parent, shared = "post", None, None, None
    if "retweeted" in refs:
        kind, share_type, shared = "share", "retweet", refs["retweeted"]
    elif "replied_to" in refs:
        kind, parent = "comment", refs["replied_to"]
        if "quoted" in refs:
            share_type, shared = "quote", refs["quoted"]
    elif "quoted" in refs:
        kind, share_type, shared = "share", "quote", refs["quoted"]

    root = thread_root(tweet, index)
    if kind != "comment" and root is None:
        root = native_id
    author_id = tweet.get("author_id")
    author = index.users.get(str(author_id)) if author_id is not None else None
    metrics = tweet.get("public_metrics") if isinstance(tweet.get("public_metrics"), dict) else {}
    if share_type == "retweet":
        # the API copies the original's counters onto each retweet: they describe the original
        metrics = {}
    lang = tweet.get("lang")
    community = tweet.get("community_id")
    return new_post(
        platform=PLATFORM,
        post_id=f"x:{native_id}",
        kind=kind,
        share_type=share_type,
        community=str(community) if community not in (None, "") else None,
        author_id=str(author_id) if author_id is not None else None,
        author_name=author.get("username") if author else None,
        parent_id=f"x:{parent}" if parent else None,
        root_id=f"x:{root}" if root else None,
        shared_id=f"x:{shared}" if shared else None,
        created_at=tweet.get("created_at"),
        text=tweet_text(tweet),
        url=external_url(tweet),
        lang=lang if isinstance(lang, str) and lang and lang != "und" else None,
        score=_metric(metrics, "like_count"),
        reply_count=_metric(metrics, "reply_count"),
        share_count=_metric(metrics, "retweet_count", "quote_count"),
    )


def response_tweets(response: dict[str, Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """(``data`` items, ``includes.tweets``) of a v2 response page or stream message."""
    data = response.get("data")
    items: list[Any] = [data] if isinstance(data, dict) else list(data) if isinstance(data, list) else []
    includes = response.get("includes")
    included = _dicts(includes.get("tweets")) if isinstance(includes, dict) else []
    return items, included


def index_response(response: dict[str, Any]) -> PageIndex:
    items, included = response_tweets(response)
    includes = response.get("includes") if isinstance(response.get("includes"), dict) else {}
    index = PageIndex()
    for user in _dicts(includes.get("users")):
        if user.get("id") is not None:
            index.users[str(user["id"])] = user
    for tweet in [*included, *items]:
        if is_tweet(tweet):
            index.tweets[str(tweet["id"])] = tweet
    return index


def api_error_reason(error: Any) -> str:
    """Quarantine reason for one entry of a response's ``errors`` array (grouped by its title)."""
    if not isinstance(error, dict):
        return f"api error: {str(error)[:200]}"
    title = str(error.get("title") or "error")
    detail = error.get("detail") or error.get("message") or ""
    return f"api {title}: {detail}".strip()


def map_response(response: dict[str, Any], location: str | None = None) -> Iterator[dict[str, Any] | Reject]:
    """Posts of one v2 response page: ``data`` first, then tweets found only in ``includes.tweets`` (the
    parents and originals that make cascades whole); each entry of ``errors`` becomes a Reject so partial
    failures are recorded, while the good data of the page is kept."""
    items, included = response_tweets(response)
    index = index_response(response)
    emitted: set[str] = set()
    for tweet in [*items, *included]:
        if not is_tweet(tweet):
            yield Reject("not a tweet object (no id and text)", tweet, location)
            continue
        native_id = str(tweet["id"])
        if native_id in emitted:
            continue
        emitted.add(native_id)
        post = tweet_to_post(tweet, index)
        if isinstance(post, Reject) and post.location is None:
            post.location = location
        yield post
    for error in response.get("errors") or []:
        yield Reject(api_error_reason(error), error, location)


def retweeters_to_posts(
    response: dict[str, Any], tweet_id: str, observed_at: Any, location: str | None = None
) -> Iterator[dict[str, Any] | Reject]:
    """Posts for a ``retweeted_by`` page: users, not tweets.

    Each retweeter becomes a synthetic share ``x:rt:<tweet>:<user>`` (kind share, retweet of the tweet). The
    API does not say when they retweeted, so ``created_at`` is the time the list was fetched: an upper bound,
    never earlier than the real retweet. ``stg_x_posts`` flags these rows (``is_synthetic_retweet``).
    """
    items = response.get("data")
    for user in items if isinstance(items, list) else []:
        if not isinstance(user, dict) or user.get("id") is None:
            yield Reject("not a user object (no id)", user, location)
            continue
        user_id = str(user["id"])
        yield new_post(
            platform=PLATFORM,
            post_id=f"{SYNTHETIC_RETWEET_PREFIX}{tweet_id}:{user_id}",
            kind="share",
            share_type="retweet",
            author_id=user_id,
            author_name=user.get("username"),
            shared_id=f"x:{tweet_id}",
            created_at=observed_at,
        )
    for error in response.get("errors") or []:
        yield Reject(api_error_reason(error), error, location)


# ============================================================================================ secrets
class _RedactSecrets(logging.Filter):
    """Scrubs registered secrets from log records (tweepy logs request headers at DEBUG, token included)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken record is logging's problem, not ours
                return True
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "[redacted]")
                record.msg, record.args = message, None
        return True


_REDACTOR = _RedactSecrets()
_REDACTED_LOGGERS = ("tweepy", "tweepy.client", "urllib3.connectionpool", "requests", __name__)


def protect_secret(secret: str) -> None:
    """Never let ``secret`` reach a log line of tweepy, requests/urllib3 or this module."""
    _REDACTOR.secrets.add(secret)
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def bearer_token(ctx: FetchContext, environ: dict[str, str] | None = None) -> str:
    """The app bearer token: the caller's credentials (an Airflow connection) first, then the environment."""
    env = os.environ if environ is None else environ
    token = (ctx.credentials or {}).get("bearer_token") or env.get(TOKEN_ENV)
    if not token or not str(token).strip():
        raise SourceError(
            f"x: no bearer token: set {TOKEN_ENV} or give the Airflow connection a bearer_token "
            "(an X API app bearer token with search access)"
        )
    return str(token).strip()


# ============================================================================================ live source
class _TimeoutAdapter(HTTPAdapter):
    """tweepy passes no timeout to requests; a hung connection must not hang the nightly run."""

    def __init__(self, timeout: float, **kwargs: Any):
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _http_params(params: dict[str, Any]) -> dict[str, Any]:
    """tweepy keyword arguments as the HTTP query parameters they become (recorded with each raw page)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = key.replace("_fields", ".fields")
        out[name] = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
    return out


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def snowflake_time(tweet_id: Any) -> datetime | None:
    """When a tweet id was minted (ids after 2010 encode their creation time)."""
    try:
        ms = (int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


class XSource:
    """Nightly collection from the X API v2 (app bearer token, tweepy ``Client``).

    ``http`` replaces the ``requests`` client object tweepy sends through (proxies, custom CAs, or replaying
    recorded responses in tests); ``sleep`` and ``clock`` are injectable so rate-limit waits can be tested
    without waiting.
    """

    name = "x"
    platform = PLATFORM
    lands_raw = True

    def __init__(
        self,
        settings: Settings,
        *,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: float = 60.0,
        **retry: Any,
    ):
        """``retry``: :class:`RetryPolicy` fields over the ``[x]`` settings (``max_retries``, ...)."""
        self.settings = settings
        self.http = http
        self.clock = clock
        self.retry = RetryPolicy.from_settings(settings, PLATFORM, sleep=sleep, clock=clock, **retry)
        self.timeout = timeout

    # ------------------------------------------------------------------------------------------ settings
    def _queries(self) -> list[str]:
        queries = self.settings.x.queries or []
        if isinstance(queries, str) or not isinstance(queries, list):
            raise SourceError("x.queries must be a list of search queries")
        return [str(q) for q in queries if str(q).strip()]

    # ------------------------------------------------------------------------------------------ HTTP
    def make_client(self, token: str) -> tweepy.Client:
        protect_secret(token)
        # rate limits are handled in _call (bounded waits, injectable sleep), not by tweepy's unbounded retry
        client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
        if self.http is not None:
            client.session = self.http
        else:
            client.session.mount("https://", _TimeoutAdapter(self.timeout))
        return client

    def _call(self, endpoint: str, fn: Callable[..., Any], params: dict[str, Any]) -> dict[str, Any]:
        """One API request with the platform's retry and rate-limit policy (:class:`RetryPolicy`)."""
        try:
            return self.retry.call(f"x: {endpoint}", lambda: self._attempt(endpoint, fn, params))
        except GaveUp as exc:
            if exc.last.rate_limited:
                raise SourceError(
                    f"x: rate limit on {endpoint} would need a wait of {(exc.wait or 0) / 60:.0f} min "
                    f"(after {exc.waits} waits); stopping here, a re-run resumes from the checkpoint"
                ) from None
            raise SourceError(
                f"x: {endpoint} kept failing ({exc.last.problem}) after {exc.attempts} attempts; "
                "a re-run resumes from the checkpoint"
            ) from None

    def _attempt(self, endpoint: str, fn: Callable[..., Any], params: dict[str, Any]) -> dict[str, Any]:
        """One try: the response, or the failure classified (Retryable or a SourceError that ends the run)."""
        try:
            response = fn(**params)
        except tweepy.TooManyRequests as exc:
            wait = reset_wait(getattr(exc.response, "headers", None), self.retry.clock)
            raise Retryable("HTTP 429", wait=wait, rate_limited=True) from exc
        except tweepy.TwitterServerError as exc:
            raise Retryable(f"HTTP {exc.response.status_code}") from exc
        except requests.RequestException as exc:
            raise Retryable(describe(exc)) from exc
        except tweepy.Unauthorized:
            raise SourceError(
                f"x: the bearer token was rejected (401 Unauthorized on {endpoint}): set {TOKEN_ENV} "
                "or the Airflow connection's bearer_token to a valid X API app bearer token"
            ) from None
        except tweepy.Forbidden as exc:
            raise SourceError(self._forbidden_message(endpoint, exc)) from None
        except tweepy.HTTPException as exc:
            status = getattr(exc.response, "status_code", "?")
            raise SourceError(f"x: {endpoint} failed with HTTP {status}: {_one_line(str(exc))}") from None
        if not isinstance(response, dict):
            raise SourceError(f"x: {endpoint} returned {type(response).__name__}, not a JSON object")
        return response

    @staticmethod
    def _forbidden_message(endpoint: str, exc: tweepy.Forbidden) -> str:
        details: list[str] = []
        try:
            body = exc.response.json()
        except (ValueError, AttributeError):
            body = {}
        if isinstance(body, dict):
            for key in ("reason", "required_enrollment", "title", "detail"):
                if body.get(key):
                    details.append(f"{key}: {body[key]}")
                    if len(details) == 2:
                        break
        detail = f" ({'; '.join(details)})" if details else ""
        return _one_line(
            f"x: access to {endpoint} was refused (403 Forbidden{detail}): the app behind the bearer token "
            "lacks the access tier for it (recent search, quote and retweet lookups need X API Basic or "
            "higher, and the app must belong to a Project)",
            limit=500,
        )

    # ------------------------------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        """The configured searches, then the roots to complete (looked up when only referenced), then each
        root's conversation, quotes and retweeters. Every paginated call is one numbered step of the cursor."""
        queries = self._queries()
        if not queries:
            log.warning("x: no [x] queries configured; nothing to fetch")
            return
        client = self.make_client(bearer_token(ctx))
        cursor = ctx.cursor
        if cursor and cursor.get("queries") != queries:
            log.warning("x: [x] queries changed since the interrupted attempt; starting %s over", ctx.run_id)
            cursor.clear()
        if not cursor:
            ctx.save_cursor(queries=queries, step=0, token=None, collected=0, roots={}, newest={})
        step = yield from self._search(ctx, client, queries)
        self._advance_watermark(ctx)
        step = yield from self._lookup_roots(ctx, client, step)
        yield from self._expand_roots(ctx, client, step)

    @staticmethod
    def _tweet_request() -> dict[str, Any]:
        return {
            "expansions": list(EXPANSIONS),
            "tweet_fields": list(TWEET_FIELDS),
            "user_fields": list(USER_FIELDS),
        }

    def _search(
        self, ctx: FetchContext, client: Any, queries: list[str]
    ) -> Generator[dict[str, Any], None, int]:
        """Step 1: the configured searches, each from its query's since_id (or the window). Returns the next step."""
        page_size = self.settings.x.max_results
        query_budget = self.settings.x.query_budget or None
        since_ids = self._usable_since_ids(ctx)
        step = 0
        for query in queries:
            params: dict[str, Any] = {"query": query, **self._tweet_request()}
            if query in since_ids:
                params["since_id"] = since_ids[query]
            else:
                params.update(self._time_bounds(ctx))
            yield from self._paginate(
                ctx,
                step,
                "GET /2/tweets/search/recent",
                client.search_recent_tweets,
                params,
                token_param="next_token",
                budget=query_budget,
                size=lambda remaining: self._size(page_size, remaining, SEARCH_PAGE),
                request={"step": "search", "query": query},
                on_page=lambda response, q=query: self._note_search_page(ctx, q, response),
            )
            step += 1
        return step

    @staticmethod
    def _advance_watermark(ctx: FetchContext) -> None:
        """After the searches: the newest id seen per query (and the window's end) become the watermark."""
        previous = ctx.watermark.get("since_id") if isinstance(ctx.watermark.get("since_id"), dict) else {}
        watermark: dict[str, Any] = {"since_id": {**previous, **ctx.cursor.get("newest", {})}}
        if ctx.window is not None:
            watermark["until"] = ctx.window.until.isoformat()
        ctx.set_watermark(**watermark)

    def _lookup_roots(
        self, ctx: FetchContext, client: Any, step: int
    ) -> Generator[dict[str, Any], None, int]:
        """Step 2: the roots to complete, ranked once and then fixed for the rest of the run (and its
        resumption); the ones only referenced so far are looked up. Returns the next step."""
        if "expand" not in ctx.cursor:
            ranked = self._rank_roots(ctx.cursor.get("roots", {}), self.settings.x.max_roots)
            unseen = [r for r in ranked if not ctx.cursor.get("roots", {}).get(r, {}).get("seen")]
            ctx.save_cursor(expand=ranked, lookup=unseen)
        missing: list[str] = list(ctx.cursor["lookup"])
        for start in range(0, len(missing), LOOKUP_BATCH):
            yield from self._paginate(
                ctx,
                step,
                "GET /2/tweets",
                client.get_tweets,
                {"ids": missing[start : start + LOOKUP_BATCH], **self._tweet_request()},
                token_param=None,
                budget=None,
                size=None,
                request={"step": "lookup"},
                on_page=lambda response: self._note_roots_seen(ctx, response),
            )
            step += 1
        return step

    def _expand_roots(self, ctx: FetchContext, client: Any, step: int) -> Iterator[dict[str, Any]]:
        """Step 3: conversation, quotes and retweeters of each root, within the per-root budgets."""
        page_size = self.settings.x.max_results
        budgets = {
            "conversation": self.settings.x.conversation_budget,
            "quotes": self.settings.x.quote_budget,
            "retweeters": self.settings.x.retweet_budget,
        }
        for root in list(ctx.cursor["expand"]):
            known = ctx.cursor["roots"].get(root, {})
            for kind, metric, token_param, bounds in (
                ("conversation", "reply_count", "next_token", SEARCH_PAGE),
                ("quotes", "quote_count", "pagination_token", QUOTES_PAGE),
                ("retweeters", "retweet_count", "pagination_token", RETWEETERS_PAGE),
            ):
                budget = budgets[kind]
                # the API's own counters say when there is nothing to fetch: that request is saved
                if budget != 0 and known.get(metric) != 0:
                    endpoint, call, params = self._root_request(client, kind, root)
                    yield from self._paginate(
                        ctx,
                        step,
                        endpoint,
                        call,
                        params,
                        token_param=token_param,
                        budget=budget,
                        size=lambda remaining, b=bounds: self._size(page_size, remaining, b),
                        request={"step": kind, "tweet_id": root},
                    )
                step += 1

    def _root_request(
        self, client: Any, kind: str, root: str
    ) -> tuple[str, Callable[..., Any], dict[str, Any]]:
        """(endpoint, client method, parameters) of one kind of expansion of a root."""
        if kind == "conversation":
            params = {"query": f"conversation_id:{root}", **self._tweet_request()}
            return "GET /2/tweets/search/recent", client.search_recent_tweets, params
        if kind == "quotes":
            return (
                "GET /2/tweets/:id/quote_tweets",
                client.get_quote_tweets,
                {"id": root, **self._tweet_request()},
            )
        return (
            "GET /2/tweets/:id/retweeted_by",
            client.get_retweeters,
            {"id": root, "user_fields": list(USER_FIELDS)},
        )

    def _paginate(
        self,
        ctx: FetchContext,
        step: int,
        endpoint: str,
        call: Callable[..., Any],
        params: dict[str, Any],
        *,
        token_param: str | None,
        budget: int | None,
        size: Callable[[int | None], int] | None,
        request: dict[str, Any],
        on_page: Callable[[dict[str, Any]], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Pages of one request sequence; the cursor is saved right after each page is landed."""
        position = int(ctx.cursor.get("step", 0))
        if step < position:
            return  # done before the interruption
        token = ctx.cursor.get("token") if step == position else None
        collected = int(ctx.cursor.get("collected") or 0) if step == position else 0
        while True:
            call_params = dict(params)
            if size is not None:
                call_params["max_results"] = size(None if budget is None else budget - collected)
            if token and token_param:
                call_params[token_param] = token
            response = self._call(endpoint, call, call_params)
            yield {
                "request": {"endpoint": endpoint, "params": _http_params(call_params), **request},
                "data": response,
            }
            # the page is landed now
            if on_page is not None:
                on_page(response)
            meta = response.get("meta") if isinstance(response.get("meta"), dict) else {}
            count = meta.get("result_count")
            if not isinstance(count, int):
                items = response.get("data")
                count = len(items) if isinstance(items, list) else 0
            collected += count
            token = meta.get("next_token") if token_param else None
            if not token or (budget is not None and collected >= budget):
                if token:
                    log.info(
                        "x: budget of %d reached for %s %s; more results were available",
                        budget,
                        endpoint,
                        request.get("query") or request.get("tweet_id") or "",
                    )
                ctx.save_cursor(step=step + 1, token=None, collected=0)
                return
            ctx.save_cursor(step=step, token=token, collected=collected)

    @staticmethod
    def _size(page_size: int, remaining: int | None, bounds: tuple[int, int]) -> int:
        wanted = page_size if remaining is None else min(page_size, remaining)
        return max(bounds[0], min(bounds[1], wanted))

    # ------------------------------------------------------------------------------------------ windows
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _usable_since_ids(self, ctx: FetchContext) -> dict[str, str]:
        """Per-query ``since_id`` of the previous run, when this run continues it.

        Used only when the previous run's window ended at or before this window's start (re-running an older
        window must fetch that window again, not "everything newer than last night") and when the id is still
        inside recent search's 7-day reach.
        """
        watermark = ctx.watermark
        since_ids = watermark.get("since_id")
        if not isinstance(since_ids, dict):
            return {}
        if ctx.window is not None:
            until = _parse_time(watermark.get("until"))
            if until is None or until > ctx.window.since:
                return {}
        oldest = self._now() - RECENT_REACH
        usable = {}
        for query, since_id in since_ids.items():
            minted = snowflake_time(since_id)
            if minted is not None and minted > oldest:
                usable[str(query)] = str(since_id)
        return usable

    def _time_bounds(self, ctx: FetchContext) -> dict[str, str]:
        if ctx.window is None:
            return {}
        now = self._now()
        bounds: dict[str, str] = {}
        start = ctx.window.since
        if start < now - RECENT_REACH:
            log.warning(
                "x: recent search reaches back 7 days; window start %s moved to %s",
                _iso(start),
                _iso(now - RECENT_REACH),
            )
            start = now - RECENT_REACH
        if start < now:
            bounds["start_time"] = _iso(start)
        if ctx.window.until <= now - END_TIME_MARGIN:
            bounds["end_time"] = _iso(ctx.window.until)
        return bounds

    # ------------------------------------------------------------------------------------------ roots
    @staticmethod
    def _note_tweet_metrics(entry: dict[str, Any], tweet: dict[str, Any]) -> None:
        entry["seen"] = True
        metrics = tweet.get("public_metrics")
        if isinstance(metrics, dict):
            for name in ("reply_count", "quote_count", "retweet_count"):
                value = metrics.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    entry[name] = max(value, entry.get(name) or 0)

    def _note_search_page(self, ctx: FetchContext, query: str, response: dict[str, Any]) -> None:
        """Record the roots a search page touched and the newest id per query (saved with the cursor)."""
        roots: dict[str, dict[str, Any]] = ctx.cursor.setdefault("roots", {})
        items, included = response_tweets(response)
        index = index_response(response)
        for tweet in items:
            if not is_tweet(tweet):
                continue
            refs = references(tweet)
            touched = []
            for ref_type in ("retweeted", "quoted"):
                original = refs.get(ref_type)
                if original:
                    known = index.tweets.get(original)
                    touched.append(thread_root(known, index) if known else original)
            if "retweeted" not in refs:
                touched.append(thread_root(tweet, index))
            for root in touched:
                if root:
                    roots.setdefault(root, {"hits": 0})["hits"] += 1
        for tweet in [*included, *items]:
            if is_tweet(tweet) and str(tweet["id"]) in roots:
                self._note_tweet_metrics(roots[str(tweet["id"])], tweet)
        meta = response.get("meta") if isinstance(response.get("meta"), dict) else {}
        newest = ctx.cursor.setdefault("newest", {})
        if meta.get("newest_id") and int(meta["newest_id"]) > int(newest.get(query) or 0):
            newest[query] = str(meta["newest_id"])

    def _note_roots_seen(self, ctx: FetchContext, response: dict[str, Any]) -> None:
        roots: dict[str, dict[str, Any]] = ctx.cursor.setdefault("roots", {})
        items, _ = response_tweets(response)
        for tweet in items:
            if is_tweet(tweet) and str(tweet["id"]) in roots:
                self._note_tweet_metrics(roots[str(tweet["id"])], tweet)

    @staticmethod
    def _rank_roots(roots: dict[str, dict[str, Any]], limit: int) -> list[str]:
        """Most engaged roots first (tweets of the run pointing at them, then the API's counters)."""

        def weight(item: tuple[str, dict[str, Any]]) -> tuple[int, int, int]:
            root, entry = item
            engagement = sum(entry.get(k) or 0 for k in ("reply_count", "quote_count", "retweet_count"))
            return (-int(entry.get("hits", 0)), -engagement, int(root) if root.isdigit() else 0)

        ranked = [root for root, _ in sorted(roots.items(), key=weight)]
        if len(ranked) > limit:
            log.info("x: %d roots touched; completing the %d most engaged (x.max_roots)", len(ranked), limit)
        return ranked[:limit]

    # ------------------------------------------------------------------------------------------ normalize
    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        request = page.get("request") if isinstance(page.get("request"), dict) else {}
        response = page.get("data")
        location = page.get("_location")
        if not isinstance(response, dict):
            yield Reject("page without a JSON object response", page.get("data"), location)
            return
        if request.get("step") == "retweeters":
            yield from retweeters_to_posts(
                response, str(request.get("tweet_id")), page.get("_fetched_at"), location
            )
        else:
            yield from map_response(response, location)
