"""Bluesky through the AT Protocol (the ``atproto`` SDK): nightly searches, accounts, feeds and lists, every
root completed with its thread, quotes and reposts, and the PostView -> Post mapping.

The mapping is shared with the Jetstream import (:mod:`pipeline.sources.bluesky_jetstream`): a post record
reads the same whether it came from ``getPostThread`` or from the firehose.

* post ids are ``bluesky:<at-uri>``; authors are DIDs (pseudonymised by the lake like every author); ``url``
  is the bsky.app permalink;
* a reply is a comment (``parent_id`` = ``reply.parent``, ``root_id`` = ``reply.root``); a reply that also
  quotes stays a comment and names the quoted post in ``shared_id`` (``share_type='quote'``);
* a quote (``app.bsky.embed.record`` / ``recordWithMedia`` embedding a post) is a share of the quoted post;
* a repost is a share (``share_type='repost'``) of its subject. Reposters listed by ``getRepostedBy`` have
  no post of their own: they become synthetic shares ``bluesky:repost:<subject-uri>:<did>``.

Blocked and not-found nodes of a thread (``#blockedPost``, ``#notFoundPost``) are quarantined with their
reason, never a crash. Responses are read as JSON through the SDK's low-level XRPC client and never through
its strict models: threads recorded in 2023 carry ``blockedPost`` nodes that the models reject.

What one nightly run does, how it resumes and where it stops: docs/sources/bluesky.md.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from atproto_client.exceptions import AtProtocolError

from pipeline.config import Settings
from pipeline.errors import ConfigError, SourceError
from pipeline.retry import GaveUp, Retryable, RetryPolicy, describe, reset_wait
from pipeline.schema import new_post
from pipeline.sources.base import FetchContext, Reject

log = logging.getLogger(__name__)

PLATFORM = "bluesky"
HANDLE_ENV = "RIPPLE_BLUESKY_HANDLE"
PASSWORD_ENV = "RIPPLE_BLUESKY_APP_PASSWORD"

POST_COLLECTION = "app.bsky.feed.post"
REPOST_COLLECTION = "app.bsky.feed.repost"
SYNTHETIC_REPOST_PREFIX = "bluesky:repost:"
BLOCKED = "app.bsky.feed.defs#blockedPost"
NOT_FOUND = "app.bsky.feed.defs#notFoundPost"
THREAD_VIEW = "app.bsky.feed.defs#threadViewPost"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
QUOTE_EMBEDS = ("app.bsky.embed.record", "app.bsky.embed.recordWithMedia")

_AT_URI = re.compile(r"^at://(?P<repo>[^/\s]+)/(?P<collection>[a-zA-Z0-9.]+)/(?P<rkey>[^/\s?#]+)$")
_APP_URL = re.compile(r"^https?://(?:www\.)?bsky\.app/profile/(?P<repo>[^/\s]+)/post/(?P<rkey>[^/\s?#]+)")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


# ============================================================================================ mapping
def parse_at_uri(uri: Any) -> tuple[str, str, str] | None:
    """(repo, collection, rkey) of an ``at://`` URI, or None."""
    match = _AT_URI.match(uri) if isinstance(uri, str) else None
    return (match["repo"], match["collection"], match["rkey"]) if match else None


def permalink(uri: str, handle: str | None = None) -> str | None:
    """The bsky.app page of a post: ``https://bsky.app/profile/<did-or-handle>/post/<rkey>``."""
    parts = parse_at_uri(uri)
    if parts is None or parts[1] != POST_COLLECTION:
        return None
    return f"https://bsky.app/profile/{handle or parts[0]}/post/{parts[2]}"


def tid_time(rkey: Any) -> str | None:
    """Creation time encoded in a record key (a TID: 53 bits of microseconds since the epoch), ISO 8601."""
    if not isinstance(rkey, str) or len(rkey) != 13 or any(c not in _TID_ALPHABET for c in rkey):
        return None
    value = 0
    for char in rkey:
        value = value * 32 + _TID_ALPHABET.index(char)
    try:
        return datetime.fromtimestamp((value >> 10) / 1_000_000, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _uri(ref: Any) -> str | None:
    uri = _dict(ref).get("uri")
    return uri if isinstance(uri, str) and uri else None


def quoted_uri(record: dict[str, Any]) -> str | None:
    """The post a record quotes (an embedded record that is a post), or None."""
    embed = _dict(record.get("embed"))
    kind = embed.get("$type")
    if kind not in QUOTE_EMBEDS:
        return None
    inner = _dict(embed.get("record"))
    if kind == "app.bsky.embed.recordWithMedia":
        inner = _dict(inner.get("record"))
    uri = _uri(inner)
    parts = parse_at_uri(uri)
    return uri if parts is not None and parts[1] == POST_COLLECTION else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_to_post(
    uri: str,
    did: str | None,
    record: dict[str, Any],
    *,
    handle: str | None = None,
    community: str | None = None,
) -> dict[str, Any]:
    """A post record (``app.bsky.feed.post``) as a Post; counters are added by the caller when known."""
    reply = _dict(record.get("reply"))
    parent, root, quoted = _uri(reply.get("parent")), _uri(reply.get("root")), quoted_uri(record)
    kind, share_type, shared = "post", None, None
    if parent:
        kind = "comment"
        if quoted:
            share_type, shared = "quote", quoted
    elif quoted:
        kind, share_type, shared = "share", "quote", quoted
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    text = record.get("text")
    parts = parse_at_uri(uri)
    return new_post(
        platform=PLATFORM,
        post_id=f"bluesky:{uri}",
        kind=kind,
        share_type=share_type,
        community=community,
        author_id=did or (parts[0] if parts else None),
        author_name=handle,
        parent_id=f"bluesky:{parent}" if parent else None,
        root_id=f"bluesky:{root or parent}" if kind == "comment" else f"bluesky:{uri}",
        shared_id=f"bluesky:{shared}" if shared else None,
        created_at=record.get("createdAt") or (tid_time(parts[2]) if parts else None),
        text=text if isinstance(text, str) else None,
        url=permalink(uri),
        lang=lang,
    )


def post_view_to_post(view: Any, community: str | None = None) -> dict[str, Any] | Reject:
    """Map an ``app.bsky.feed.defs#postView`` (search hit, feed item, thread node, quote) to a Post."""
    view = _dict(view)
    uri, record = view.get("uri"), view.get("record")
    parts = parse_at_uri(uri)
    if parts is None or parts[1] != POST_COLLECTION or not isinstance(record, dict):
        return Reject("not a Bluesky post view (no post uri or record)", view)
    author = _dict(view.get("author"))
    did = author.get("did") if isinstance(author.get("did"), str) else parts[0]
    handle = author.get("handle") if isinstance(author.get("handle"), str) else None
    post = record_to_post(str(uri), did, record, handle=handle, community=community)
    if not post["created_at"]:
        post["created_at"] = view.get("indexedAt")
    post["score"] = _count(view.get("likeCount"))
    post["reply_count"] = _count(view.get("replyCount"))
    reposts, quotes = _count(view.get("repostCount")), _count(view.get("quoteCount"))
    post["share_count"] = None if reposts is None else reposts + (quotes or 0)
    return post


def repost_share(
    subject: str, did: str, created_at: Any, community: str | None = None, post_id: str | None = None
) -> dict[str, Any]:
    """A repost of ``subject`` by ``did``: a share (``repost``) with no text of its own."""
    return new_post(
        platform=PLATFORM,
        post_id=post_id or f"{SYNTHETIC_REPOST_PREFIX}{subject}:{did}",
        kind="share",
        share_type="repost",
        community=community,
        author_id=did,
        shared_id=f"bluesky:{subject}",
        created_at=created_at,
    )


def node_reject(node: dict[str, Any]) -> Reject:
    """A thread node that is not a visible post, quarantined with why."""
    kind = node.get("$type")
    uri = node.get("uri") if isinstance(node.get("uri"), str) else "?"
    if kind == BLOCKED or node.get("blocked") is True:
        return Reject(f"blocked post {uri}: hidden from the fetching account by a block", node)
    if kind == NOT_FOUND or node.get("notFound") is True:
        return Reject(f"post not found {uri}: deleted, or not indexed by the AppView", node)
    return Reject(f"unknown thread node {str(kind)[:60]} {uri}", node)


def thread_nodes(thread: Any) -> Iterator[dict[str, Any]]:
    """Every node of a ``getPostThread`` answer: the post, its parent chain and all reply levels."""
    stack: list[Any] = [thread]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if node.get("parent") is not None:
            stack.append(node["parent"])
        replies = node.get("replies")
        if isinstance(replies, list):
            stack.extend(reversed(replies))


def map_thread(data: dict[str, Any], community: str | None) -> Iterator[dict[str, Any] | Reject]:
    for node in thread_nodes(data.get("thread")):
        if isinstance(node.get("post"), dict) and node.get("$type", THREAD_VIEW) == THREAD_VIEW:
            yield post_view_to_post(node["post"], community)
        else:
            yield node_reject(node)


def map_feed(data: dict[str, Any], community: str | None) -> Iterator[dict[str, Any] | Reject]:
    """A feed page (``getAuthorFeed``, ``getFeed``, ``getListFeed``): each post, the thread context shown with
    replies (root and parent), and the reposts that put a post into the feed."""
    for item in data.get("feed") or []:
        item = _dict(item)
        post = _dict(item.get("post"))
        yield post_view_to_post(post, community)
        for ref in ("root", "parent"):
            node = _dict(_dict(item.get("reply")).get(ref))
            if node and node.get("uri") != post.get("uri"):
                yield post_view_to_post(node, community) if "record" in node else node_reject(node)
        reason = _dict(item.get("reason"))
        by = _dict(reason.get("by"))
        if reason.get("$type") == REASON_REPOST and isinstance(by.get("did"), str) and _uri(post):
            yield repost_share(str(post["uri"]), by["did"], reason.get("indexedAt"), community)


def map_page(page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
    """Posts of one landed page, by the step that fetched it (pure: re-runnable from the raw files)."""
    request = _dict(page.get("request"))
    data = page.get("data")
    location = page.get("_location")
    community = request.get("community") if isinstance(request.get("community"), str) else None
    step = request.get("step")
    if request.get("failed"):
        what = f"{step} of {request.get('uri')}"
        yield Reject(f"incomplete cascade: {what} failed ({_dict(data).get('error')})", data, location)
        return
    if not isinstance(data, dict):
        yield Reject("page without a JSON object response", data, location)
        return
    if step == "thread":
        items: Iterator[dict[str, Any] | Reject] = map_thread(data, community)
    elif step == "reposts":
        subject = str(data.get("uri") or request.get("uri"))
        items = (
            repost_share(subject, p["did"], page.get("_fetched_at"), community)
            for p in data.get("repostedBy") or []
            if isinstance(p, dict) and isinstance(p.get("did"), str)
        )
    elif "feed" in data:
        items = map_feed(data, community)
    else:  # searchPosts, getQuotes, getPosts
        items = (post_view_to_post(view, community) for view in data.get("posts") or [])
    for item in items:
        if isinstance(item, Reject) and item.location is None:
            item.location = location
        yield item


def to_at_uri(value: str) -> tuple[str, bool]:
    """An AT URI from an ``at://`` URI or a bsky.app post URL: (uri, whether the repo still is a handle)."""
    value = value.strip()
    if parse_at_uri(value):
        repo = value[len("at://") :].split("/", 1)[0]
        return value, not repo.startswith("did:")
    match = _APP_URL.match(value)
    if not match:
        raise ConfigError(f"bluesky: {value!r} is neither an at:// post URI nor a bsky.app post URL")
    repo = match["repo"]
    return f"at://{repo}/{POST_COLLECTION}/{match['rkey']}", not repo.startswith("did:")


# ============================================================================================ HTTP
def attempt(call: Callable[[], Any], clock: Callable[[], float] = time.time) -> Any:
    """One try of ``call``, its failures classified for the retry policy (:class:`pipeline.retry.RetryPolicy`):
    429 waits until ``ratelimit-reset``; 5xx (except 501), timeouts and dropped connections are retried with
    exponential backoff; anything else is raised at once."""
    from atproto_client import exceptions as atx

    try:
        return call()
    except atx.RateLimitExceededError as exc:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        raise Retryable("HTTP 429", wait=reset_wait(headers, clock), rate_limited=True) from exc
    except (atx.InvokeTimeoutError, atx.NetworkError, httpx.TransportError) as exc:
        # the SDK passes some transport failures through as they are (a connection dropped mid-answer)
        raise Retryable(describe(exc)) from exc
    except atx.RequestException as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if not isinstance(status, int) or status < 500 or status == 501:
            raise
        raise Retryable(f"HTTP {status}") from exc


def login_credentials(ctx: FetchContext, environ: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(handle, app password) from the caller's credentials (Airflow connection) or the environment."""
    env = os.environ if environ is None else environ
    creds = ctx.credentials or {}
    handle = creds.get("handle") or creds.get("login") or env.get(HANDLE_ENV)
    password = creds.get("app_password") or creds.get("password") or env.get(PASSWORD_ENV)
    if handle and password:
        return str(handle).strip(), str(password).strip()
    if handle or password:
        raise SourceError(
            f"bluesky: give both a handle and an app password ({HANDLE_ENV} and {PASSWORD_ENV}, "
            "or the login and password of the Airflow connection bluesky_default)"
        )
    return None


def _error_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    content = getattr(response, "content", None)
    detail = getattr(content, "error", None) or getattr(content, "message", None) or type(exc).__name__
    return f"HTTP {status}: {detail}" if status else str(detail)


# ============================================================================================ live source
#: discovery steps: setting -> (XRPC method, parameter naming the thing, list key of the answer)
DISCOVERY = {
    "queries": ("app.bsky.feed.searchPosts", "q", "posts"),
    "accounts": ("app.bsky.feed.getAuthorFeed", "actor", "feed"),
    "feeds": ("app.bsky.feed.getFeed", "feed", "feed"),
    "lists": ("app.bsky.feed.getListFeed", "list", "feed"),
}
STEP_NAMES = {"queries": "search", "accounts": "author", "feeds": "feed", "lists": "list"}


class BlueskySource:
    """Nightly collection from Bluesky's AppView through the ``atproto`` SDK's XRPC client.

    ``sleep`` and ``clock`` are injectable so rate-limit waits can be tested without waiting.
    """

    name = "bluesky"
    platform = PLATFORM
    lands_raw = True
    supports_thread = True  # `ripple ingest bluesky --thread URI_OR_URL`

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: float = 60.0,
    ):
        self.settings = settings
        self.timeout = timeout
        # [bluesky] max_retries bounds the rate-limit waits too
        self.retry = RetryPolicy.from_settings(
            settings,
            PLATFORM,
            sleep=sleep,
            clock=clock,
            max_rate_limit_waits=settings.bluesky.max_retries,
        )

    # ------------------------------------------------------------------------------------------ HTTP
    def make_client(self, ctx: FetchContext) -> Any:
        """An XRPC client: logged in at ``service_url`` (reads go through the account's PDS) when a handle and
        app password are given, else anonymous at ``appview_url``."""
        from atproto import Client
        from atproto_client.request import Request

        request = Request(timeout=httpx.Timeout(self.timeout))
        creds = login_credentials(ctx)
        if creds is None:
            return Client(base_url=str(self.settings.bluesky.appview_url), request=request)
        client = Client(base_url=str(self.settings.bluesky.service_url), request=request)
        handle, password = creds
        try:
            self._retrying(lambda: client.login(handle, password, fetch_bsky_profile=False), "createSession")
        except Exception as exc:  # the SDK's errors carry the response, never the password
            raise SourceError(
                f"bluesky: login as {handle} failed ({_error_text(exc)}): check {HANDLE_ENV} and "
                f"{PASSWORD_ENV} (an app password, not the account password) or the connection bluesky_default"
            ) from None
        return client

    def _retrying(self, call: Callable[[], Any], what: str) -> Any:
        """``call()`` under the platform's retry policy; when it gives up, a one-line :class:`SourceError`."""
        try:
            return self.retry.call(f"bluesky: {what}", lambda: attempt(call, self.retry.clock))
        except GaveUp as exc:
            raise SourceError(f"{exc}; a re-run resumes from the checkpoint") from None

    def _query(self, client: Any, nsid: str, params: dict[str, Any]) -> dict[str, Any]:
        """One XRPC query, its answer kept as the JSON the server sent (no model validation)."""
        from atproto_client.models.dot_dict import DotDict

        response = self._retrying(lambda: client.invoke_query(nsid, params=DotDict(params)), nsid)
        content = response.content
        if not isinstance(content, dict):
            raise SourceError(f"bluesky: {nsid} did not answer with a JSON object")
        return content

    # ------------------------------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        threads = ctx.options.get("threads") or []
        threads = [threads] if isinstance(threads, str) else list(threads)
        if not threads and ctx.window is None:
            raise ConfigError("bluesky: a run needs a window, or threads to fetch")
        plan = (
            {"threads": threads}
            if threads
            else {k: _strings(getattr(self.settings.bluesky, k)) for k in DISCOVERY}
        )
        if ctx.cursor and ctx.cursor.get("plan") != plan:
            log.warning(
                "bluesky: settings changed since the interrupted attempt; starting %s over", ctx.run_id
            )
            ctx.cursor.clear()
        if not ctx.cursor:
            ctx.save_cursor(plan=plan, step=0, token=None, collected=0, roots={}, newest={})
        client = self.make_client(ctx)
        if threads:
            if "expand" not in ctx.cursor:
                roots = [self._resolve(client, t) for t in threads]
                ctx.save_cursor(expand=roots)
            yield from self._expand(ctx, client, 0)
            return
        if not any(plan.values()):
            log.warning(
                "bluesky: no [bluesky] queries, accounts, feeds or lists configured; nothing to fetch"
            )
            return
        step = yield from self._discover(ctx, client, plan)
        if "expand" not in ctx.cursor:
            ctx.save_cursor(expand=self._rank_roots(ctx.cursor.get("roots", {})))
        yield from self._expand(ctx, client, step)

    def _resolve(self, client: Any, thread: str) -> str:
        uri, is_handle = to_at_uri(str(thread))
        if not is_handle:
            return uri
        handle = uri[len("at://") :].split("/", 1)[0]
        answer = self._query(client, "com.atproto.identity.resolveHandle", {"handle": handle})
        did = answer.get("did")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise SourceError(f"bluesky: could not resolve the handle {handle!r} to a DID")
        return uri.replace(f"at://{handle}/", f"at://{did}/", 1)

    def _discover(self, ctx: FetchContext, client: Any, plan: dict[str, list[str]]) -> Iterator[Any]:
        """Searches, author feeds, feeds and lists; returns the next step number."""
        assert ctx.window is not None
        feed_communities = self.settings.bluesky.community == "feed"
        page_size = max(1, min(100, self.settings.bluesky.page_size))
        budget = self.settings.bluesky.query_budget or None
        step = 0
        for setting, (nsid, param, _key) in DISCOVERY.items():
            for value in plan[setting]:
                params: dict[str, Any] = {param: value, "limit": page_size}
                if setting == "queries":
                    params.update(sort="latest", since=_iso(ctx.window.since), until=_iso(ctx.window.until))
                community = value if feed_communities and setting in ("feeds", "lists") else None
                request = {"step": STEP_NAMES[setting], "endpoint": nsid, "value": value}
                if community:
                    request["community"] = community
                yield from self._paginate(
                    ctx,
                    step,
                    client,
                    nsid,
                    params,
                    request=request,
                    budget=budget,
                    on_page=lambda data, v=value, c=community: self._note_page(ctx, v, data, c),
                )
                step += 1
        newest = {**_dict(ctx.watermark.get("newest")), **ctx.cursor.get("newest", {})}
        ctx.set_watermark(newest=newest, until=ctx.window.until.isoformat())
        return step

    def _expand(self, ctx: FetchContext, client: Any, step: int) -> Iterator[dict[str, Any]]:
        """Thread, quotes and reposts of every root, within the per-root budgets."""
        depth = self.settings.bluesky.thread_depth
        budgets = {
            "quotes": self.settings.bluesky.quote_budget,
            "reposts": self.settings.bluesky.repost_budget,
        }
        page_size = max(1, min(100, self.settings.bluesky.page_size))
        for root in ctx.cursor["expand"]:
            community = _dict(ctx.cursor.get("roots", {}).get(root)).get("community")
            extra = {"community": community} if community else {}
            calls = (
                ("thread", "app.bsky.feed.getPostThread", {"uri": root, "depth": depth}, None),
                ("quotes", "app.bsky.feed.getQuotes", {"uri": root, "limit": page_size}, budgets["quotes"]),
                (
                    "reposts",
                    "app.bsky.feed.getRepostedBy",
                    {"uri": root, "limit": page_size},
                    budgets["reposts"],
                ),
            )
            for kind, nsid, params, budget in calls:
                if budget == 0:
                    step += 1
                    continue
                request = {"step": kind, "endpoint": nsid, "uri": root, **extra}
                yield from self._paginate(
                    ctx, step, client, nsid, params, request=request, budget=budget, auxiliary=True
                )
                step += 1

    def _paginate(
        self,
        ctx: FetchContext,
        step: int,
        client: Any,
        nsid: str,
        params: dict[str, Any],
        *,
        request: dict[str, Any],
        budget: int | None,
        on_page: Callable[[dict[str, Any]], bool] | None = None,
        auxiliary: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Pages of one request sequence; the cursor is saved right after each page is landed.

        An auxiliary call (thread, quotes, reposts of a root) that fails lands a page saying so (the cascade
        is incomplete: it is quarantined with the reason) and the run goes on.
        """
        position = int(ctx.cursor.get("step", 0))
        if step < position:
            return
        token = ctx.cursor.get("token") if step == position else None
        collected = int(ctx.cursor.get("collected") or 0) if step == position else 0
        while True:
            call_params = {**params, **({"cursor": token} if token else {})}
            try:
                data = self._query(client, nsid, call_params)
            except (SourceError, AtProtocolError) as exc:
                if not auxiliary or _is_auth_error(exc):
                    raise _as_source_error(nsid, exc) from None
                log.warning(
                    "bluesky: %s for %s failed (%s); cascade incomplete", nsid, params.get("uri"), exc
                )
                failed = {**request, "params": call_params, "failed": True}
                yield {"request": failed, "data": {"error": _error_text(exc)}}
                ctx.save_cursor(step=step + 1, token=None, collected=0)
                return
            yield {"request": {**request, "params": call_params}, "data": data}
            more = on_page(data) if on_page is not None else True
            collected += sum(
                len(v)
                for k, v in data.items()
                if k in ("posts", "feed", "repostedBy") and isinstance(v, list)
            )
            token = data.get("cursor") if isinstance(data.get("cursor"), str) and data.get("cursor") else None
            if not token or not more or (budget is not None and collected >= budget):
                ctx.save_cursor(step=step + 1, token=None, collected=0)
                return
            ctx.save_cursor(step=step, token=token, collected=collected)

    # ------------------------------------------------------------------------------------------ roots
    def _note_page(self, ctx: FetchContext, value: str, data: dict[str, Any], community: str | None) -> bool:
        """Record the roots a discovery page touched; False once a feed page reaches before the window."""
        roots: dict[str, dict[str, Any]] = ctx.cursor.setdefault("roots", {})
        views = [_dict(v) for v in data.get("posts") or []]
        times: list[str] = []
        for item in data.get("feed") or []:
            item = _dict(item)
            views.append(_dict(item.get("post")))
            reason = _dict(item.get("reason"))
            stamp = reason.get("indexedAt") or _dict(_dict(item.get("post")).get("record")).get("createdAt")
            if isinstance(stamp, str):
                times.append(stamp)
        for view in views:
            record = _dict(view.get("record"))
            touched = [_uri(_dict(record.get("reply")).get("root")) or _uri(view), quoted_uri(record)]
            for root in touched:
                if root and parse_at_uri(root):
                    entry = roots.setdefault(root, {"hits": 0})
                    entry["hits"] += 1
                    if community and not entry.get("community"):
                        entry["community"] = community
                    if root == view.get("uri"):
                        entry["engagement"] = sum(
                            _count(view.get(k)) or 0 for k in ("replyCount", "repostCount", "quoteCount")
                        )
            created = record.get("createdAt")
            newest = ctx.cursor.setdefault("newest", {})
            if isinstance(created, str) and created > str(newest.get(value) or ""):
                newest[value] = created
        window = ctx.window
        return not (times and window is not None and min(times) < _iso(window.since))

    def _rank_roots(self, roots: dict[str, dict[str, Any]]) -> list[str]:
        """Most touched roots first, then the most engaged; at most ``max_roots``."""
        limit = self.settings.bluesky.max_roots
        ranked = sorted(roots, key=lambda r: (-roots[r].get("hits", 0), -roots[r].get("engagement", 0), r))
        if len(ranked) > limit:
            log.info(
                "bluesky: %d roots touched; completing the %d most engaged (max_roots)", len(ranked), limit
            )
        return ranked[:limit]

    # ------------------------------------------------------------------------------------------ normalize
    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        yield from map_page(page)


def _is_auth_error(exc: BaseException) -> bool:
    from atproto_client import exceptions as atx

    return isinstance(exc, atx.UnauthorizedError)


def _as_source_error(nsid: str, exc: BaseException) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    hint = ""
    if _is_auth_error(exc):
        hint = f": this call needs a login; set {HANDLE_ENV} and {PASSWORD_ENV} or the connection bluesky_default"
    return SourceError(f"bluesky: {nsid} failed ({_error_text(exc)}){hint}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _strings(values: list[str]) -> list[str]:
    """A list setting without blank entries, each stripped."""
    return [str(v).strip() for v in values if str(v).strip()]
