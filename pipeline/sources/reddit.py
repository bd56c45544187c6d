"""Reddit through PRAW: nightly subreddit/search pulls with full comment trees, revisits and single threads.

What a run does (docs/sources/reddit.md has the details):

* for every configured subreddit (``[reddit] subreddits``) and search (``[reddit] searches``) it walks the
  newest submissions back to the unit's watermark and at least ``revisit_days`` before the window end, then
  fetches each submission's whole comment tree, expanding ``more`` stubs the way PRAW's ``replace_more`` does
  (largest first, one request each, at most ``replace_more_limit`` of them per thread);
* ``ctx.options["threads"]`` (ids or URLs) fetches just those threads, whole: every ``more`` stub is
  expanded unless ``ctx.options["replace_more"]`` sets a budget (the nightly budget is for listings);
  ``ctx.options["items"]`` (fullnames) refreshes those items through ``/api/info`` (e.g. to learn whether
  they were deleted since).

Every page is the JSON the API returned, fetched with ``reddit.request`` so PRAW handles authentication and
rate limits. A thread is one page: the ``/comments/<id>`` response plus the list of expansion responses under
``"more"``. The request path and parameters are recorded, never headers or tokens.
"""

from __future__ import annotations

import configparser
import heapq
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings
from pipeline.errors import ConfigError, RippleError, SourceError
from pipeline.retry import GaveUp, Retryable, RetryPolicy, describe, reset_wait
from pipeline.schema import new_post
from pipeline.sources.base import FetchContext, Reject

if TYPE_CHECKING:
    import praw

log = logging.getLogger(__name__)

PLATFORM = "reddit"
DELETED_TEXT = "[deleted]"
REMOVED_TEXT = "[removed]"
# removed_by_category values that mean the author took the item down (every other value is a removal)
AUTHOR_DELETION_CATEGORIES = frozenset({"deleted", "author"})
LISTING_PAGE_SIZE = 100
INFO_BATCH = 100
THREAD_COMMENT_LIMIT = 500
INT64_MAX = 2**63 - 1
_ID36 = re.compile(r"^[0-9a-z]{1,13}$")


class RedditUnavailable(RippleError):
    """Reddit kept failing (5xx, timeouts, dropped connections) after the bounded retries.

    Running the same window again resumes from the last checkpoint.
    """


class _BadJSON(Exception):
    """The body of a response that was not JSON (kept for the quarantine record if retries do not help)."""

    def __init__(self, status: int | None, body: str | None):
        super().__init__("response body is not valid JSON")
        self.status, self.body = status, body


class _RequestFailed(Exception):
    """A request that failed for good but only concerns one unit (404, a body that is not JSON, ...)."""

    def __init__(self, status: int | None, message: str, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


# --------------------------------------------------------------------------------------------- mapping
def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _int(value: Any) -> int | None:
    """Counts as reported; dumps of some eras carry them as floats or digit strings."""
    number: int | None = None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            number = int(text)
    # a count that does not fit the lake's int64 is garbage, not a count
    return number if number is not None and -INT64_MAX <= number <= INT64_MAX else None


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("_meta")
    return meta if isinstance(meta, dict) else {}


def deletion_flags(data: dict[str, Any], text: Any) -> tuple[bool, bool]:
    """(is_deleted, is_removed) of a submission or comment, from the API or from a dump line.

    Deleted = taken down by its author (or the account is gone): text or author ``[deleted]``,
    ``removed_by_category`` deleted/author, Arctic Shift's ``removal_type: deleted`` or ``was_deleted_later``.
    Removed = taken down by a moderator or Reddit: text ``[removed]``, any other ``removed_by_category`` or
    ``removal_type``.
    """
    meta = _meta(data)
    category = data.get("removed_by_category")
    removal_type = data.get("removal_type") or meta.get("removal_type")
    deleted_later = data.get("was_deleted_later") or meta.get("was_deleted_later")
    is_deleted = (
        text == DELETED_TEXT
        or data.get("author") == DELETED_TEXT
        or category in AUTHOR_DELETION_CATEGORIES
        or removal_type == "deleted"
        or deleted_later is True
    )
    is_removed = (
        text == REMOVED_TEXT
        or (isinstance(category, str) and category != "" and category not in AUTHOR_DELETION_CATEGORIES)
        or (isinstance(removal_type, str) and removal_type not in ("", "deleted"))
    )
    return bool(is_deleted), bool(is_removed)


def _body(value: Any) -> str | None:
    # the placeholders are not the item's text: the flags say what happened
    text = _str(value)
    return None if text in (DELETED_TEXT, REMOVED_TEXT) else text


def _fullname(data: dict[str, Any], prefix: str) -> str | None:
    name = data.get("name")
    if isinstance(name, str) and name.startswith(prefix + "_"):
        return name
    native = data.get("id")
    if isinstance(native, int) and not isinstance(native, bool):
        native = str(native)
    if isinstance(native, str) and native:
        return f"{prefix}_{native}"
    return None


def _community(data: dict[str, Any]) -> str | None:
    sub = _str(data.get("subreddit"))
    return f"r/{sub.lower()}" if sub else None


def map_submission(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A t3 object -> its Post, plus the originals it crossposts (each also a Post, so cascades are whole).

    A crosspost is ``kind='share'``, ``share_type='crosspost'``, ``shared_id`` = the original's post id,
    in the community it was crossposted to.
    """
    name = _fullname(data, "t3")
    parent = _str(data.get("crosspost_parent"))
    text = data.get("selftext")
    is_deleted, is_removed = deletion_flags(data, text)
    post = new_post(
        platform=PLATFORM,
        post_id=f"{PLATFORM}:{name}" if name else None,
        kind="share" if parent else "post",
        share_type="crosspost" if parent else None,
        community=_community(data),
        author_id=_str(data.get("author")),
        author_name=_str(data.get("author")),
        root_id=f"{PLATFORM}:{name}" if name else None,
        shared_id=f"{PLATFORM}:{parent}" if parent else None,
        created_at=data.get("created_utc"),
        title=_str(data.get("title")),
        text=_body(text),
        url=None if data.get("is_self") is True else _str(data.get("url")),
        score=_int(data.get("score")),
        reply_count=_int(data.get("num_comments")),
        share_count=_int(data.get("num_crossposts")),
        is_deleted=is_deleted,
        is_removed=is_removed,
    )
    out = [post]
    originals = data.get("crosspost_parent_list")
    if isinstance(originals, list):
        for original in originals:
            if isinstance(original, dict):
                out.extend(map_submission(original))
    return out


def map_comment(data: dict[str, Any], reply_count: int | None = None) -> dict[str, Any]:
    """A t1 object -> its Post. ``reply_count`` is only known when the comment comes with its thread."""
    name = _fullname(data, "t1")
    parent = _str(data.get("parent_id"))
    link = _str(data.get("link_id"))
    text = data.get("body")
    is_deleted, is_removed = deletion_flags(data, text)
    return new_post(
        platform=PLATFORM,
        post_id=f"{PLATFORM}:{name}" if name else None,
        kind="comment",
        community=_community(data),
        author_id=_str(data.get("author")),
        author_name=_str(data.get("author")),
        parent_id=f"{PLATFORM}:{parent}" if parent else None,
        root_id=f"{PLATFORM}:{link}" if link else None,
        created_at=data.get("created_utc"),
        text=_body(text),
        score=_int(data.get("score")),
        reply_count=reply_count,
        is_deleted=is_deleted,
        is_removed=is_removed,
    )


def map_record(data: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    """Map one dump line / API ``data`` object; the kind is guessed from its fields when not given."""
    if kind is None:
        name = data.get("name")
        if isinstance(name, str) and name[:3] in ("t1_", "t3_"):
            kind = name[:2]
        else:
            kind = "t1" if "body" in data or "link_id" in data else "t3"
    return [map_comment(data)] if kind == "t1" else map_submission(data)


# --------------------------------------------------------------------------------------------- tree walking
def _stub_key(stub: dict[str, Any]) -> str:
    # "continue this thread" stubs all have id "_", so the parent is part of the key
    return f"{stub.get('name')}@{stub.get('parent_id')}"


def _walk(things: Iterable[Any], comments: list[dict[str, Any]], stubs: list[dict[str, Any]]) -> None:
    """Collect t1 objects and ``more`` stubs of a (nested) comment listing, depth first, without recursion."""
    stack = list(reversed(list(things)))
    while stack:
        thing = stack.pop()
        if not isinstance(thing, dict):
            continue
        kind, data = thing.get("kind"), thing.get("data")
        if not isinstance(data, dict):
            continue
        if kind == "t1":
            comments.append(data)
            replies = data.get("replies")
            if isinstance(replies, dict):
                children = (replies.get("data") or {}).get("children") or []
                stack.extend(reversed(children))
        elif kind == "more":
            stubs.append(data)


def _listing_children(listing: Any) -> list[Any]:
    if isinstance(listing, dict) and isinstance(listing.get("data"), dict):
        children = listing["data"].get("children")
        if isinstance(children, list):
            return children
    return []


def _response_things(request: dict[str, Any], data: Any) -> list[Any]:
    """The comment things of a thread response: a /comments/ pair of listings or a flat morechildren reply."""
    if isinstance(data, list) and len(data) == 2:
        return _listing_children(data[1])
    if isinstance(data, dict) and isinstance(data.get("json"), dict):
        things = (data["json"].get("data") or {}).get("things")
        return things if isinstance(things, list) else []
    return []


@dataclass
class ThreadTree:
    submission: dict[str, Any] | None
    comments: list[dict[str, Any]]
    stubs: list[dict[str, Any]]
    unexpanded: list[dict[str, Any]]


def assemble_thread(page: dict[str, Any]) -> ThreadTree:
    """Put a thread page back together: the submission, every comment once, the stubs left unexpanded."""
    data = page.get("data")
    submission = None
    if isinstance(data, list) and data:
        for thing in _listing_children(data[0]):
            if isinstance(thing, dict) and thing.get("kind") == "t3" and isinstance(thing.get("data"), dict):
                submission = thing["data"]
                break
    raw_comments: list[dict[str, Any]] = []
    stubs: list[dict[str, Any]] = []
    _walk(_response_things(page.get("request") or {}, data), raw_comments, stubs)
    expanded: set[str] = set()
    for extra in page.get("more") or []:
        if not isinstance(extra, dict) or "error" in extra:
            continue
        request = extra.get("request") or {}
        if request.get("expands"):
            expanded.add(request["expands"])
        _walk(_response_things(request, extra.get("data")), raw_comments, stubs)
    comments: list[dict[str, Any]] = []
    seen: set[str] = set()
    for comment in raw_comments:
        name = _fullname(comment, "t1")
        if name is None or name not in seen:
            if name is not None:
                seen.add(name)
            comments.append(comment)
    unexpanded = [stub for stub in stubs if _stub_key(stub) not in expanded]
    return ThreadTree(submission, comments, stubs, unexpanded)


def hidden_replies(stub: dict[str, Any]) -> int:
    """Comments a stub stands for: its count, at least 1 ("continue this thread" stubs report 0)."""
    count = _int(stub.get("count")) or 0
    return max(count, len(stub.get("children") or []), 1)


# --------------------------------------------------------------------------------------------- ids
def thread_id_from(value: str) -> str:
    """A submission id from ``abc123``, ``t3_abc123`` or any reddit.com / redd.it URL of the thread."""
    text = value.strip()
    if text.startswith("t3_"):
        text = text[3:]
    if _ID36.match(text.lower()):
        return text.lower()
    if "/" in text:
        from praw.models import Submission

        try:
            return Submission.id_from_url(text if "://" in text else f"https://{text}")
        except Exception:  # PRAW raises InvalidURL (a ClientException) for anything it cannot read
            pass
    raise ConfigError(f"not a Reddit thread id or URL: {value!r}")


def explicit_budget(options: dict[str, Any]) -> int | None:
    """Expansions per thread the user named: ``options["replace_more"]``, unlimited (None) by default."""
    value = options.get("replace_more")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"reddit: --replace-more must be a whole number, got {value!r}")
    return None if value < 0 else value


# --------------------------------------------------------------------------------------------- client
def build_reddit(settings: Settings, credentials: dict[str, Any] | None = None) -> praw.Reddit:
    """A ``praw.Reddit`` configured the way PRAW configures itself.

    Precedence is PRAW's: keyword arguments (``credentials``, e.g. from an Airflow connection) > ``praw_*``
    environment variables > the ``praw.ini`` site named by ``[reddit] site``. Any PRAW setting works,
    ``oauth_url`` and ``reddit_url`` included. Update checks (a request to PyPI) are off unless asked for.
    """
    import praw
    from praw.exceptions import MissingRequiredAttributeException

    given = dict(credentials or {})
    site = given.pop("site_name", None) or given.pop("site", None) or settings.reddit.site
    kwargs = {k: v for k, v in given.items() if v is not None}
    if "check_for_updates" not in kwargs and not os.environ.get("praw_check_for_updates"):
        kwargs["check_for_updates"] = False
    try:
        try:
            reddit = praw.Reddit(site_name=site, requestor_class=_requestor_class(), **kwargs)
        except configparser.NoSectionError:
            if site != settings.reddit.site or os.environ.get("praw_site"):
                raise
            # no [ripple] section in praw.ini: fall back to praw_* variables and PRAW's defaults
            reddit = praw.Reddit(requestor_class=_requestor_class(), **kwargs)
    except configparser.NoSectionError:
        raise ConfigError(f"praw.ini has no [{site}] section (set [reddit] site or praw_site)") from None
    except MissingRequiredAttributeException as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"reddit: {first} Provide it in praw.ini [{site}], as a praw_* environment variable or in the"
            " connection handed to the run."
        ) from None
    core = reddit._core or reddit._read_only_core
    if core is not None:
        core.requestor.timeout = float(reddit.config.timeout)
    return reddit


def _requestor_class() -> type:
    """prawcore's Requestor, honouring PRAW's ``timeout`` setting (prawcore passes its own default)."""
    from prawcore import Requestor

    class ConfiguredTimeoutRequestor(Requestor):
        def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            return super().request(*args, timeout=self.timeout, **kwargs)

    return ConfiguredTimeoutRequestor


# --------------------------------------------------------------------------------------------- units
@dataclass(frozen=True)
class Unit:
    """One thing to walk every night: a subreddit's /new listing or a search sorted by new."""

    key: str
    path: str
    params: tuple[tuple[str, Any], ...] = ()

    @staticmethod
    def subreddit(name: str) -> Unit:
        clean = name.strip().removeprefix("/").removeprefix("r/").strip("/")
        if not clean:
            raise ConfigError(f"reddit.subreddits: empty subreddit name {name!r}")
        return Unit(f"r/{clean.lower()}", f"/r/{clean}/new")

    @staticmethod
    def search(spec: Any) -> Unit:
        if isinstance(spec, str):
            query, sub = spec, None
        elif isinstance(spec, dict) and isinstance(spec.get("query"), str):
            query, sub = spec["query"], spec.get("subreddit")
        else:
            raise ConfigError(f"reddit.searches: expected a query or {{query=..., subreddit=...}}: {spec!r}")
        params: list[tuple[str, Any]] = [("q", query), ("sort", "new"), ("t", "all"), ("type", "link")]
        if sub:
            clean = str(sub).strip().removeprefix("r/").strip("/")
            params.append(("restrict_sr", 1))
            return Unit(f"search:r/{clean.lower()}:{query}", f"/r/{clean}/search", tuple(params))
        return Unit(f"search:{query}", "/search", tuple(params))


# --------------------------------------------------------------------------------------------- the source
class RedditSource:
    name = "reddit"
    platform = PLATFORM
    lands_raw = True
    supports_thread = True  # `ripple ingest reddit --thread ID`

    def __init__(self, settings: Settings, reddit: praw.Reddit | None = None):
        self.settings = settings
        self._reddit = reddit
        cfg = settings.reddit
        limit = cfg.replace_more_limit
        self.replace_more_limit: int | None = None if limit is None or int(limit) < 0 else int(limit)
        self.revisit_days = cfg.revisit_days
        self.submission_limit = cfg.submission_limit
        self.comment_sort = cfg.comment_sort
        self.retry = RetryPolicy.from_settings(settings, PLATFORM)

    # ----------------------------------------------------------------------------------------- requests
    def _client(self, ctx: FetchContext) -> praw.Reddit:
        if self._reddit is None:
            self._reddit = build_reddit(self.settings, ctx.credentials)
        return self._reddit

    def _request(
        self,
        reddit: praw.Reddit,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Any:
        """One API call with PRAW's auth and rate limits, retried by the platform's :class:`RetryPolicy`.

        Authentication failures raise :class:`SourceError` at once. 5xx, 429, timeouts, dropped connections
        and bodies that are not JSON are retried (a 429 waits for the reset Reddit announces); after
        ``max_retries`` the first ones raise :class:`RedditUnavailable` (the run can be resumed), a body that
        is still not JSON raises ``_RequestFailed`` so that only this thread or listing is quarantined.
        Other 4xx raise that too.
        """
        what = f"reddit: {method} {path}"
        try:
            return self.retry.call(what, lambda: self._attempt(reddit, method, path, params, data))
        except GaveUp as exc:
            bad_json = exc.last.__cause__
            if isinstance(bad_json, _BadJSON):
                raise _RequestFailed(
                    bad_json.status, "response body is not valid JSON", bad_json.body
                ) from None
            raise RedditUnavailable(
                f"{exc}; run the same window again to resume from the last checkpoint"
            ) from None

    def _attempt(
        self,
        reddit: praw.Reddit,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        data: dict[str, Any] | None,
    ) -> Any:
        """One try: the response, or the failure classified (Retryable, SourceError, _RequestFailed)."""
        import prawcore

        try:
            return reddit.request(method=method, path=path, params=params, data=data)
        except prawcore.OAuthException as exc:
            raise SourceError(
                f"reddit: authentication failed ({exc}); check the app's client id and secret"
            ) from None
        except (prawcore.InvalidToken, prawcore.Forbidden, prawcore.InsufficientScope) as exc:
            raise SourceError(self._auth_message(exc, path)) from None
        except prawcore.BadJSON as exc:
            cause = _BadJSON(exc.response.status_code, _response_text(exc))
            raise Retryable("response body is not valid JSON") from cause
        except prawcore.ResponseException as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise SourceError(self._auth_message(exc, path)) from None
            if status == 429:
                headers = getattr(exc.response, "headers", None)
                raise Retryable("HTTP 429", wait=reset_wait(headers), rate_limited=True) from exc
            if status < 500:
                message = f"HTTP {status} for {method} {path}"
                raise _RequestFailed(status, message, _response_text(exc)) from None
            raise Retryable(f"HTTP {status}") from exc
        except prawcore.RequestException as exc:
            raise Retryable(describe(exc)) from exc
        except prawcore.PrawcoreException as exc:  # Redirect (unknown subreddit), SpecialError, ...
            raise _RequestFailed(None, f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _auth_message(exc: Exception, path: str) -> str:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        where = "the token endpoint" if "access_token" in str(getattr(response, "url", "")) else path
        return (
            f"reddit: access denied (HTTP {status}, {type(exc).__name__}) at {where}; check the credentials "
            "(client id/secret, username/password or refresh token) and that the account may read it"
        )

    def _page(
        self,
        reddit: praw.Reddit,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"method": method, "endpoint": path, "params": dict(params or {})}
        if data:
            request["data"] = dict(data)
        request.update(extra)
        try:
            body = self._request(reddit, method, path, params=params, data=data)
        except _RequestFailed as exc:
            log.warning("reddit: %s %s: %s (quarantined)", method, path, exc.message)
            error: dict[str, Any] = {"status": exc.status, "message": exc.message}
            if exc.body is not None:
                error["body"] = exc.body[:2000]
            return {"request": request, "data": None, "error": error}
        return {"request": request, "data": body}

    # ----------------------------------------------------------------------------------------- fetch
    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        threads = ctx.options.get("threads") or []
        items = ctx.options.get("items") or []
        if isinstance(threads, str):
            threads = [threads]
        if isinstance(items, str):
            items = [items]
        if threads or items:
            ids = [thread_id_from(t) for t in threads]
            reddit = self._client(ctx)
            yield from self._fetch_items(ctx, reddit, [str(i) for i in items])
            yield from self._fetch_thread_list(ctx, reddit, "threads", ids, explicit_budget(ctx.options))
            return
        if ctx.window is None:
            raise ConfigError("reddit: a run needs a window, or threads/items to fetch")
        units = [Unit.subreddit(s) for s in self.settings.reddit.subreddits or []]
        units += [Unit.search(s) for s in self.settings.reddit.searches or []]
        if not units:
            log.warning("reddit: no subreddits or searches configured; nothing to fetch")
            return
        reddit = self._client(ctx)
        for unit in units:
            yield from self._fetch_unit(ctx, reddit, unit)

    def _fetch_items(
        self, ctx: FetchContext, reddit: praw.Reddit, fullnames: list[str]
    ) -> Iterator[dict[str, Any]]:
        start = int(ctx.cursor.get("items_next", 0))
        for offset in range(start, len(fullnames), INFO_BATCH):
            batch = fullnames[offset : offset + INFO_BATCH]
            yield self._page(reddit, "GET", "/api/info/", {"id": ",".join(batch)})
            ctx.save_cursor(items_next=offset + len(batch))

    def _fetch_thread_list(
        self, ctx: FetchContext, reddit: praw.Reddit, key: str, ids: list[str], budget: int | None
    ) -> Iterator[dict[str, Any]]:
        units = ctx.cursor.setdefault("units", {})
        progress = units.setdefault(key, {"threads": ids, "next": 0})
        for index in range(int(progress["next"]), len(progress["threads"])):
            yield self.fetch_thread(reddit, progress["threads"][index], budget)
            progress["next"] = index + 1
            ctx.save_cursor()
        progress["done"] = True
        ctx.save_cursor()

    def _fetch_unit(self, ctx: FetchContext, reddit: praw.Reddit, unit: Unit) -> Iterator[dict[str, Any]]:
        assert ctx.window is not None
        units = ctx.cursor.setdefault("units", {})
        progress = units.get(unit.key)
        marks = (ctx.pending_watermark or ctx.watermark).get("units") or {}
        mark = marks.get(unit.key) or {}
        until = ctx.window.until.timestamp()
        revisit_from = until - self.revisit_days * 86_400
        if progress and progress.get("done"):
            # finished by an earlier attempt of this run: its watermark must still be staged for the commit
            self._stage_watermark(ctx, unit, progress, mark, revisit_from)
            return
        lower = min(ctx.window.since.timestamp(), revisit_from)
        if isinstance(mark.get("newest"), int | float):
            lower = min(lower, float(mark["newest"]))
        if progress is None or "threads" not in progress:
            found: dict[str, float] = {}
            listed_ok = True
            for page, listed in self._list(reddit, unit, lower, until):
                yield page
                if "error" in page:
                    listed_ok = False
                found.update(listed)
            # revisit what earlier runs saw in the last revisit_days even if the listing no longer reaches it
            for sid, created in (mark.get("recent") or {}).items():
                if isinstance(created, int | float) and revisit_from <= created < until:
                    found.setdefault(sid, float(created))
            order = sorted(found, key=lambda s: (found[s], s))
            progress = units[unit.key] = {
                "threads": order,
                "created": {s: found[s] for s in order},
                "next": 0,
                "listed_ok": listed_ok,
            }
            ctx.save_cursor()
        for index in range(int(progress["next"]), len(progress["threads"])):
            yield self.fetch_thread(reddit, progress["threads"][index], self.replace_more_limit)
            progress["next"] = index + 1
            ctx.save_cursor()
        progress["done"] = True
        ctx.save_cursor()
        self._stage_watermark(ctx, unit, progress, mark, revisit_from)

    @staticmethod
    def _stage_watermark(
        ctx: FetchContext, unit: Unit, progress: dict[str, Any], mark: dict[str, Any], revisit_from: float
    ) -> None:
        """The unit's next watermark: newest submission seen, ids to revisit (committed with the run)."""
        if not progress.get("listed_ok", True):
            return  # the listing failed: the next run must walk back as far again
        created = {s: float(c) for s, c in (progress.get("created") or {}).items()}
        newest = max([*created.values(), *([mark["newest"]] if "newest" in mark else [])], default=None)
        recent = {s: c for s, c in {**(mark.get("recent") or {}), **created}.items() if c >= revisit_from}
        marks = dict((ctx.pending_watermark or ctx.watermark).get("units") or {})
        marks[unit.key] = {"newest": newest, "recent": recent}
        ctx.set_watermark(units=marks)

    def _list(
        self, reddit: praw.Reddit, unit: Unit, lower: float, upper: float
    ) -> Iterator[tuple[dict[str, Any], dict[str, float]]]:
        """Pages of the unit's listing, newest first, until a submission older than ``lower`` shows up."""
        after: str | None = None
        seen = 0
        while True:
            params: dict[str, Any] = {**dict(unit.params), "limit": LISTING_PAGE_SIZE}
            if after:
                params["after"] = after
            page = self._page(reddit, "GET", unit.path, params)
            listed: dict[str, float] = {}
            if "error" in page:
                yield page, listed
                return
            children = _listing_children(page["data"])
            reached_end = False
            for thing in children:
                data = thing.get("data") if isinstance(thing, dict) else None
                if not isinstance(data, dict) or thing.get("kind") != "t3":
                    continue
                try:
                    created = float(data.get("created_utc"))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    continue
                if created < lower:
                    if not data.get("stickied"):
                        reached_end = True
                    continue
                if created < upper and isinstance(data.get("id"), str):
                    listed[data["id"]] = created
            yield page, listed
            seen += len(children)
            after = (page["data"].get("data") or {}).get("after") if isinstance(page["data"], dict) else None
            if reached_end or not after or not children or seen >= self.submission_limit:
                return

    def fetch_thread(self, reddit: praw.Reddit, submission_id: str, budget: int | None) -> dict[str, Any]:
        """One thread as one page: the /comments/ response plus up to ``budget`` expansions (None: all).

        Listed threads get ``replace_more_limit``, threads the user named get all (docs/sources/reddit.md). Stubs are expanded
        largest first, like PRAW's ``CommentForest.replace_more``: a stub with children through
        ``/api/morechildren``, a "continue this thread" stub (count 0) through ``/comments/<id>/_/<parent>``.
        The stubs the budget leaves are kept in the landed JSON.
        """
        params = {"limit": THREAD_COMMENT_LIMIT, "sort": self.comment_sort}
        path = f"/comments/{submission_id}/"
        page = self._page(reddit, "GET", path, params)
        if "error" in page:
            return page
        link_id = f"t3_{submission_id}"
        heap: list[tuple[int, int, dict[str, Any]]] = []
        counter = 0

        def push(things: list[Any]) -> None:
            nonlocal counter
            comments: list[dict[str, Any]] = []
            stubs: list[dict[str, Any]] = []
            _walk(things, comments, stubs)
            for stub in stubs:
                counter += 1
                heapq.heappush(heap, (-(_int(stub.get("count")) or 0), counter, stub))

        push(_response_things(page["request"], page["data"]))
        more: list[dict[str, Any]] = []
        remaining = budget
        while heap and (remaining is None or remaining > 0):
            _, _, stub = heapq.heappop(heap)
            key = _stub_key(stub)
            children = [c for c in stub.get("children") or [] if isinstance(c, str)]
            if (_int(stub.get("count")) or 0) == 0 and not children:
                parent = str(stub.get("parent_id") or "").split("_", 1)[-1]
                extra = self._page(
                    reddit, "GET", f"/comments/{submission_id}/_/{parent}", params, expands=key
                )
            elif children:
                form = {"children": ",".join(children), "link_id": link_id, "sort": self.comment_sort}
                extra = self._page(reddit, "POST", "/api/morechildren/", None, data=form, expands=key)
            else:
                continue
            more.append(extra)
            if remaining is not None:
                remaining -= 1
            if "error" not in extra:
                push(_response_things(extra["request"], extra["data"]))
        page["more"] = more
        if heap:
            left = [entry[2] for entry in heap]
            page["unexpanded"] = {"stubs": len(left), "comments": sum(hidden_replies(s) for s in left)}
        return page

    # ----------------------------------------------------------------------------------------- normalize
    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        request = page.get("request") or {}
        endpoint = str(request.get("endpoint") or "")
        if "error" in page:
            error = page["error"] or {}
            record = {"request": request, "error": error}
            yield Reject(f"reddit API error: {error.get('message')}", record, endpoint)
            return
        data = page.get("data")
        if endpoint.startswith("/comments/") and isinstance(data, list):
            yield from self._normalize_thread(page)
            return
        # listings (/r/x/new, /search, /api/info, user pages): one level of things
        for thing in _listing_children(data):
            if not isinstance(thing, dict) or not isinstance(thing.get("data"), dict):
                yield Reject("reddit: listing entry is not an object", thing, endpoint)
                continue
            kind = thing.get("kind")
            if kind == "t3":
                yield from map_submission(thing["data"])
            elif kind == "t1":
                yield map_comment(thing["data"])
            # other kinds (t5 subreddits, t2 accounts, more stubs) are not items

    def _normalize_thread(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        tree = assemble_thread(page)
        if tree.submission is not None:
            yield from map_submission(tree.submission)
        landed = Counter(c.get("parent_id") for c in tree.comments)
        hidden: Counter[str] = Counter()
        for stub in tree.unexpanded:
            if isinstance(stub.get("parent_id"), str):
                hidden[stub["parent_id"]] += hidden_replies(stub)
        for comment in tree.comments:
            name = _fullname(comment, "t1")
            yield map_comment(comment, reply_count=landed[name] + hidden[name] if name else None)


def _response_text(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    try:
        return None if response is None else str(response.text)
    except Exception:  # a body that cannot even be decoded is not worth a second failure
        return None
