"""Mastodon through its REST API (the ``Mastodon.py`` client): nightly hashtag and public timelines of the
configured instances, every root completed with its thread, boosts and quotes, and the Status -> Post mapping.

* one status, one item: post ids are ``mastodon:<uri>`` (the status's canonical ActivityPub ``uri``), the same
  on every instance that shows it; ``url`` is its public page;
* ``in_reply_to_id`` and a shallow quote's ``quoted_status_id`` are *local* ids of the fetching instance. They are
  resolved to canonical ids from the statuses of the same page (a ``/context`` answer holds the whole chain), from
  the ``refs`` the source put into the page's request (statuses it already saw, the status a context belongs to,
  parents it fetched), and else kept as ``mastodon:local:<instance host>/<local id>`` (``stg_mastodon_posts``
  flags these: ``is_parent_unresolved``);
* a boost is a share (``share_type='boost'``) of the original status; rebloggers listed by ``reblogged_by`` have
  no status of their own: they become synthetic boosts ``mastodon:boost:<uri>:<acct>``, a star by construction;
* a Mastodon 4.5 quote (``quote.state = 'accepted'``) is a share (``share_type='quote'``) of the quoted status;
  a reply that quotes stays a comment and names the quoted status in ``shared_id``;
* communities are instances: the author's home instance (the domain of ``acct``, or the fetching instance for its
  local accounts), or null with ``community = "detected"``. Bridged accounts (``bsky.brid.gy``, ...) have the
  bridge as their home instance; the staging model flags them (``is_bridged``).

What one nightly run does, how it resumes and where it stops: docs/sources/mastodon.md.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pipeline.config import Settings
from pipeline.errors import ConfigError, SourceError
from pipeline.retry import GaveUp, Retryable, RetryPolicy, describe
from pipeline.schema import new_post
from pipeline.sources.base import FetchContext, Reject

log = logging.getLogger(__name__)

PLATFORM = "mastodon"
TOKEN_ENV_PREFIX = "RIPPLE_MASTODON_TOKEN_"
PREFIX = "mastodon:"
LOCAL_PREFIX = "mastodon:local:"
SYNTHETIC_BOOST_PREFIX = "mastodon:boost:"
#: servers that bridge other networks into the fediverse; their accounts are flagged, their domain is the community
BRIDGE_DOMAINS = ("bsky.brid.gy", "web.brid.gy", "fed.brid.gy")
COMMUNITY_MODES = ("instance", "detected")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS_URL = re.compile(
    r"^(?P<base>https?://[^/\s]+)/(?:@[^/\s]+|users/[^/\s]+/statuses|web/statuses|web/@[^/\s]+)/(?P<id>\d+)/?$"
)


# ============================================================================================ ids and hosts
def snowflake(moment: datetime) -> int:
    """The smallest Mastodon id of a status created at ``moment`` (ids are milliseconds << 16)."""
    return ((moment - _EPOCH) // timedelta(milliseconds=1)) << 16


def snowflake_time(status_id: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp((int(status_id) >> 16) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def host_of(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    host = urlsplit(url).hostname
    return host.lower() if host else None


def instance_url(value: str) -> str:
    """``https://host`` of an instance given as a URL or a bare host name."""
    value = str(value).strip().rstrip("/")
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    if not parts.hostname:
        raise ConfigError(f"mastodon: {value!r} is not an instance URL")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def token_env(instance: str) -> str:
    """``RIPPLE_MASTODON_TOKEN_<HOST>``: the host upper-cased, every other character an underscore."""
    return TOKEN_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", str(host_of(instance_url(instance))).upper())


def local_ref(instance_host: str, local_id: Any) -> str:
    """The id of a status known only by its local id on ``instance_host`` (unresolved)."""
    return f"{LOCAL_PREFIX}{instance_host}/{local_id}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def home_instance(account: dict[str, Any], instance_host: str) -> str:
    """The author's home instance: the domain of ``acct``; for a local account (no domain in ``acct``) the host
    of its profile ``url``, which is the fetching instance's public domain, else the fetching instance's host."""
    acct = account.get("acct")
    if isinstance(acct, str) and "@" in acct:
        return acct.rsplit("@", 1)[1].lower()
    return host_of(account.get("url")) or instance_host


def full_acct(account: dict[str, Any], instance_host: str) -> str | None:
    """``user@home-instance`` of an account (local accounts' ``acct`` has no domain)."""
    acct = account.get("acct")
    if not isinstance(acct, str) or not acct:
        return None
    return acct if "@" in acct else f"{acct}@{home_instance(account, instance_host)}"


def is_bridge(domain: str | None) -> bool:
    return bool(domain) and str(domain).lower() in BRIDGE_DOMAINS


def quoted(status: dict[str, Any]) -> tuple[str | None, str | None]:
    """(uri, local id) of the status an accepted Mastodon 4.5 quote names; (None, None) when none."""
    quote = _dict(status.get("quote"))
    if quote.get("state") != "accepted":
        return None, None
    inner = _dict(quote.get("quoted_status"))
    uri = inner.get("uri") if isinstance(inner.get("uri"), str) else None
    local = inner.get("id") or quote.get("quoted_status_id")
    return uri, str(local) if local is not None else None


# ============================================================================================ mapping
def page_statuses(data: Any) -> list[dict[str, Any]]:
    """Every status of an answer: timeline or quote lists, a single status, a context; boosted and quoted
    statuses nested in them included."""
    if isinstance(data, list):
        top = data
    elif isinstance(data, dict) and ("ancestors" in data or "descendants" in data):
        top = [*(data.get("ancestors") or []), *(data.get("descendants") or [])]
    elif isinstance(data, dict) and "uri" in data:
        top = [data]
    else:
        top = []
    out: list[dict[str, Any]] = []
    for status in top:
        status = _dict(status)
        if "account" not in status:  # an account list (reblogged_by) is not a list of statuses
            continue
        for inner in (_dict(status.get("reblog")), _dict(_dict(status.get("quote")).get("quoted_status"))):
            if inner.get("uri"):
                out.append(inner)
        out.append(status)
    return out


def local_ids(statuses: list[dict[str, Any]], refs: dict[str, str]) -> dict[str, str]:
    """Local id -> canonical uri for the statuses of one page, on top of the page's ``refs``."""
    known = dict(refs)
    for status in statuses:
        if status.get("id") is not None and isinstance(status.get("uri"), str):
            known[str(status["id"])] = status["uri"]
    return known


class Mapper:
    """Maps the statuses of one page; local ids are resolved with the page's own statuses and ``refs``."""

    def __init__(self, instance_host: str, statuses: list[dict[str, Any]], refs: dict[str, str], mode: str):
        self.host = instance_host
        self.known = local_ids(statuses, refs)
        self.mode = mode
        self.parents = {str(s["id"]): str(s["in_reply_to_id"]) for s in statuses if s.get("in_reply_to_id")}

    def ref(self, local_id: Any) -> str:
        uri = self.known.get(str(local_id))
        return f"{PREFIX}{uri}" if uri else local_ref(self.host, local_id)

    def root(self, local_id: str) -> str:
        """The topmost ancestor reachable through this page's statuses (the best known root)."""
        seen = {local_id}
        while local_id in self.parents and self.parents[local_id] not in seen:
            local_id = self.parents[local_id]
            seen.add(local_id)
        return self.ref(local_id)

    def community(self, account: dict[str, Any]) -> str | None:
        return home_instance(account, self.host) if self.mode == "instance" else None

    def post(self, status: dict[str, Any]) -> dict[str, Any] | Reject:
        uri = status.get("uri")
        if not isinstance(uri, str) or not uri or status.get("id") is None:
            return Reject("not a Mastodon status (no uri or id)", status)
        if status.get("reblog"):
            return self.boost(status)
        account = _dict(status.get("account"))
        parent = status.get("in_reply_to_id")
        quote_uri, quote_local = quoted(status)
        shared = f"{PREFIX}{quote_uri}" if quote_uri else (self.ref(quote_local) if quote_local else None)
        kind = "comment" if parent else ("share" if shared else "post")
        text = status.get("content")
        return new_post(
            platform=PLATFORM,
            post_id=f"{PREFIX}{uri}",
            kind=kind,
            share_type="quote" if shared else None,
            community=self.community(account),
            author_id=full_acct(account, self.host),
            author_name=full_acct(account, self.host),
            parent_id=self.ref(parent) if parent else None,
            root_id=self.root(str(status["id"])) if parent else f"{PREFIX}{uri}",
            shared_id=shared,
            created_at=status.get("created_at") or _iso_or_none(snowflake_time(status.get("id"))),
            title=status.get("spoiler_text") or None,
            text=text if isinstance(text, str) else None,
            url=status.get("url") if isinstance(status.get("url"), str) else uri,
            lang=status.get("language") if isinstance(status.get("language"), str) else None,
            score=_count(status.get("favourites_count")),
            reply_count=_count(status.get("replies_count")),
            share_count=_shares(status),
            is_deleted=False,
            is_removed=False,
        )

    def boost(self, status: dict[str, Any]) -> dict[str, Any]:
        """A reblog wrapper (public timelines show them): a boost of the original status."""
        account = _dict(status.get("account"))
        return new_post(
            platform=PLATFORM,
            post_id=f"{PREFIX}{status['uri']}",
            kind="share",
            share_type="boost",
            community=self.community(account),
            author_id=full_acct(account, self.host),
            author_name=full_acct(account, self.host),
            shared_id=f"{PREFIX}{_dict(status['reblog']).get('uri')}",
            root_id=f"{PREFIX}{status['uri']}",
            created_at=status.get("created_at"),
            url=status.get("url") if isinstance(status.get("url"), str) else None,
            is_deleted=False,
            is_removed=False,
        )

    def reblogger(
        self, subject_uri: str, account: dict[str, Any], fetched_at: Any
    ) -> dict[str, Any] | Reject:
        acct = full_acct(account, self.host)
        if not acct:
            return Reject("reblogger without acct", account)
        return new_post(
            platform=PLATFORM,
            post_id=f"{SYNTHETIC_BOOST_PREFIX}{subject_uri}:{acct}",
            kind="share",
            share_type="boost",
            community=self.community(account),
            author_id=acct,
            author_name=acct,
            shared_id=f"{PREFIX}{subject_uri}",
            root_id=f"{SYNTHETIC_BOOST_PREFIX}{subject_uri}:{acct}",
            created_at=fetched_at,
            is_deleted=False,
            is_removed=False,
        )


def _shares(status: dict[str, Any]) -> int | None:
    boosts = _count(status.get("reblogs_count"))
    return None if boosts is None else boosts + (_count(status.get("quotes_count")) or 0)


def _iso_or_none(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def map_page(page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
    """Items of one landed page, by the step that fetched it (pure: re-runnable from the raw files)."""
    request = _dict(page.get("request"))
    data, location = page.get("data"), page.get("_location")
    host = host_of(request.get("instance")) or "unknown"
    what = f"{request.get('step')} of {request.get('uri') or request.get('status_id')} on {host}"
    if request.get("not_found"):
        yield Reject(
            f"status not found: {what}: deleted, or not visible to the fetching account", data, location
        )
        return
    if request.get("failed"):
        yield Reject(f"incomplete cascade: {what} failed ({_dict(data).get('error')})", data, location)
        return
    mode = request.get("community") if request.get("community") in COMMUNITY_MODES else "instance"
    refs = {str(k): str(v) for k, v in _dict(request.get("refs")).items()}
    if request.get("step") == "reblogs":
        mapper = Mapper(host, [], refs, mode)
        subject = str(request.get("uri"))
        for account in data if isinstance(data, list) else []:
            yield mapper.reblogger(subject, _dict(account), page.get("_fetched_at"))
        return
    statuses = page_statuses(data)
    if not statuses and data not in ([], {}) and not isinstance(data, dict | list):
        yield Reject("page without a JSON answer", data, location)
        return
    mapper = Mapper(host, statuses, refs, mode)
    for status in statuses:
        item = mapper.post(status)
        if isinstance(item, Reject) and item.location is None:
            item.location = location
        yield item


def parse_thread(value: str, instance: str | None) -> tuple[str, str]:
    """(instance URL, local status id) of a status URL, or of a bare id read on ``instance``."""
    value = str(value).strip()
    if value.isdigit():
        if not instance:
            raise ConfigError(
                f"mastodon: a bare status id ({value}) needs --instance (or [mastodon] instances)"
            )
        return instance_url(instance), value
    match = _STATUS_URL.match(value)
    if not match:
        raise ConfigError(f"mastodon: {value!r} is neither a status URL nor a status id")
    return instance_url(match["base"]), match["id"]


# ============================================================================================ HTTP
def attempt(call: Callable[[], Any]) -> Any:
    """One try of ``call``, its failures classified for the retry policy (:class:`pipeline.retry.RetryPolicy`):
    5xx (except 501), timeouts and network errors are retried with exponential backoff.

    429 is not handled here: Mastodon.py (``ratelimit_method="wait"``) waits until ``X-RateLimit-Reset``, and when
    that time is unusable (a cached answer whose reset lies before its own ``Date``) it backs off 2 s, doubling.
    """
    from mastodon import errors as mx

    try:
        return call()
    except mx.MastodonNetworkError as exc:
        raise Retryable(describe(exc)) from exc
    except mx.MastodonServerError as exc:
        status = _status_of(exc)
        if status == 501:
            raise
        raise Retryable(f"HTTP {status}") from exc


def _status_of(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _error_text(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 4:
        return f"HTTP {args[1]}: {args[3] or args[2]}"
    return f"{type(exc).__name__}: {exc}"[:200]


def token_for(ctx: FetchContext, instance: str, environ: dict[str, str] | None = None) -> str | None:
    """The access token of ``instance``: the caller's credentials (Airflow connection ``mastodon_default``:
    password, for the connection's host or for every instance; extra ``tokens`` by instance URL or host), else
    ``RIPPLE_MASTODON_TOKEN_<HOST>``."""
    env = os.environ if environ is None else environ
    creds = ctx.credentials or {}
    host = host_of(instance)
    tokens = creds.get("tokens")
    if isinstance(tokens, str):
        tokens = json.loads(tokens)
    for key, value in _dict(tokens).items():
        if host_of(instance_url(key)) == host and value:
            return str(value).strip()
    if creds.get("password") and (not creds.get("host") or host_of(instance_url(creds["host"])) == host):
        return str(creds["password"]).strip()
    value = env.get(token_env(instance))
    return value.strip() if value else None


class Capture:
    """A ``requests`` response hook: keeps the last answer as the server sent it (the JSON landed raw)."""

    def __init__(self) -> None:
        self.last: Any = None

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.last = response
        return response

    def json(self) -> Any:
        return self.last.json() if self.last is not None and self.last.content else None

    def next_max_id(self) -> str | None:
        """``max_id`` of the answer's ``Link: <...>; rel="next"``, or None on the last page."""
        if self.last is None:
            return None
        link = _dict(getattr(self.last, "links", {})).get("next")
        params = dict(parse_qsl(urlsplit(_dict(link).get("url", "")).query))
        return params.get("max_id")


# ============================================================================================ live source
#: steps per root: its context, the context of its thread's top (when the root is a reply), boosts, quotes
ROOT_STEPS = 4


class MastodonSource:
    """Nightly collection from Mastodon instances through Mastodon.py.

    ``sleep`` is injectable so that 5xx backoff can be tested without waiting (Mastodon.py's own 429 waits use
    ``time.sleep``).
    """

    name = "mastodon"
    platform = PLATFORM
    lands_raw = True
    supports_thread = True  # `ripple ingest mastodon --thread STATUS_URL_OR_ID [--instance URL]`

    def __init__(
        self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep, timeout: float = 60.0
    ):
        self.settings = settings
        self.retry = RetryPolicy.from_settings(settings, PLATFORM, sleep=sleep)
        self.timeout = timeout
        self._clients: dict[str, tuple[Any, Capture]] = {}
        #: instance host -> local id -> canonical uri, of every status seen in this process
        self._seen: dict[str, dict[str, str]] = {}
        self._parent_lookups = 0

    # ------------------------------------------------------------------------------------------ settings
    def _timelines(self) -> list[list[str]]:
        """[instance, timeline] pairs: ``tag:<name>`` per hashtag, ``public:local``, ``public:federated``."""
        names = [f"tag:{t.lstrip('#').lower()}" for t in _strings(self.settings.mastodon.hashtags)]
        if self.settings.mastodon.public_local:
            names.append("public:local")
        if self.settings.mastodon.public_federated:
            names.append("public:federated")
        return [[instance_url(i), name] for i in _strings(self.settings.mastodon.instances) for name in names]

    # ------------------------------------------------------------------------------------------ HTTP
    def client(self, ctx: FetchContext, instance: str) -> tuple[Any, Capture]:
        """A Mastodon.py client for ``instance`` (its token if one is given), with a hook that keeps the raw
        answers. ``ratelimit_method="wait"``: a 429 waits for the reset time instead of failing."""
        if instance not in self._clients:
            import requests
            from mastodon import Mastodon

            session = requests.Session()
            capture = Capture()
            session.hooks["response"].append(capture)
            client = Mastodon(
                api_base_url=instance,
                access_token=token_for(ctx, instance),
                ratelimit_method="wait",
                request_timeout=self.timeout,
                session=session,
                version_check_mode="none",
                user_agent="ripple/0.1 (social-listening research pipeline)",
            )
            self._clients[instance] = (client, capture)
        return self._clients[instance]

    def _get(
        self, ctx: FetchContext, instance: str, what: str, call: Callable[[Any], Any]
    ) -> tuple[Any, Any]:
        """(the JSON answer as sent, the next page's ``max_id``) of one call, under the retry policy."""
        client, capture = self.client(ctx, instance)
        try:
            self.retry.call(f"mastodon: {what} on {host_of(instance)}", lambda: attempt(lambda: call(client)))
        except GaveUp as exc:
            raise SourceError(f"{exc}; a re-run resumes from the checkpoint") from None
        data = capture.json()
        self._remember(instance, data)
        return data, capture.next_max_id()

    def _remember(self, instance: str, data: Any) -> None:
        seen = self._seen.setdefault(str(host_of(instance)), {})
        for status in page_statuses(data):
            if status.get("id") is not None and isinstance(status.get("uri"), str):
                seen[str(status["id"])] = status["uri"]

    # ------------------------------------------------------------------------------------------ fetch
    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        threads = ctx.options.get("threads") or []
        threads = [threads] if isinstance(threads, str) else list(threads)
        if not threads and ctx.window is None:
            raise ConfigError("mastodon: a run needs a window, or threads to fetch")
        default_instance = ctx.options.get("instance") or next(
            iter(_strings(self.settings.mastodon.instances)), None
        )
        plan: dict[str, Any] = (
            {"threads": [list(parse_thread(t, default_instance)) for t in threads]}
            if threads
            else {"timelines": self._timelines()}
        )
        if ctx.cursor and ctx.cursor.get("plan") != plan:
            log.warning(
                "mastodon: settings changed since the interrupted attempt; starting %s over", ctx.run_id
            )
            ctx.cursor.clear()
        if not ctx.cursor:
            ctx.save_cursor(plan=plan, step=0, token=None, collected=0, roots={}, newest={})
        if threads:
            yield from self._thread_roots(ctx, plan["threads"])
            yield from self._expand(ctx, 0)
            return
        if not plan["timelines"]:
            log.warning(
                "mastodon: no [mastodon] instances with hashtags or public timelines; nothing to fetch"
            )
            return
        yield from self._discover(ctx, plan["timelines"])
        if "expand" not in ctx.cursor:
            ctx.save_cursor(expand=self._rank_roots(ctx.cursor.get("roots", {})))
        yield from self._expand(ctx, len(plan["timelines"]))

    def _thread_roots(self, ctx: FetchContext, threads: list[list[str]]) -> Iterator[dict[str, Any]]:
        """The status of every ``--thread``: landed (or its absence: a 404 root still gets its context)."""
        if "expand" in ctx.cursor:
            return
        roots = ctx.cursor.setdefault("roots", {})
        order = []
        for instance, local in threads:
            request = {
                "step": "status",
                "instance": instance,
                "status_id": local,
                "community": self.settings.mastodon.community,
            }
            page = yield from self._auxiliary(
                ctx, instance, request, lambda c, i=local: c.status(i), f"status {local}", parents=True
            )
            data = _dict(page["data"]) if page else {}
            key = str(data.get("uri") or local_ref(str(host_of(instance)), local))
            roots[key] = {"instance": instance, "id": local, "uri": data.get("uri"), **_counts(data)}
            order.append(key)
        ctx.save_cursor(roots=roots, expand=order)

    def _discover(self, ctx: FetchContext, timelines: list[list[str]]) -> Iterator[dict[str, Any]]:
        """Every timeline of every instance, newest first from the window's end down to its start."""
        assert ctx.window is not None
        bounds = {"max_id": snowflake(ctx.window.until), "since_id": snowflake(ctx.window.since) - 1}
        page_size = max(1, min(40, self.settings.mastodon.page_size))
        budget = self.settings.mastodon.timeline_budget or None
        for step, (instance, timeline) in enumerate(timelines):
            position = int(ctx.cursor.get("step", 0))
            if step < position:
                continue
            max_id = (
                ctx.cursor.get("token") if step == position and ctx.cursor.get("token") else bounds["max_id"]
            )
            collected = int(ctx.cursor.get("collected") or 0) if step == position else 0
            while True:
                params = {"max_id": str(max_id), "since_id": str(bounds["since_id"]), "limit": page_size}
                request = {"step": "timeline", "instance": instance, "timeline": timeline, "params": params}
                data, next_max = self._timeline_page(ctx, instance, timeline, params)
                statuses = data if isinstance(data, list) else []
                yield from self._parents(ctx, instance, statuses)
                request.update(
                    community=self.settings.mastodon.community, refs=self._refs(instance, statuses)
                )
                yield {"request": request, "data": data}
                self._note_page(ctx, instance, timeline, statuses)
                collected += len(statuses)
                if not statuses or not next_max or (budget is not None and collected >= budget):
                    ctx.save_cursor(step=step + 1, token=None, collected=0)
                    break
                max_id = next_max
                ctx.save_cursor(step=step, token=str(max_id), collected=collected)
        newest = {**_dict(ctx.watermark.get("newest")), **ctx.cursor.get("newest", {})}
        ctx.set_watermark(newest=newest, until=ctx.window.until.isoformat())

    def _timeline_page(
        self, ctx: FetchContext, instance: str, timeline: str, params: dict[str, Any]
    ) -> tuple[Any, Any]:
        """One timeline page; a failure after retries stops the run (a re-run resumes at this page)."""
        from mastodon import errors as mx

        try:
            return self._get(ctx, instance, timeline, lambda c: _timeline(c, timeline, params))
        except mx.MastodonError as exc:
            hint = ""
            if isinstance(exc, mx.MastodonUnauthorizedError):
                hint = f": this instance needs a token; set {token_env(instance)} or the connection mastodon_default"
            raise SourceError(
                f"mastodon: {timeline} on {host_of(instance)} failed ({_error_text(exc)}){hint}"
            ) from None

    def _refs(self, instance: str, statuses: list[dict[str, Any]]) -> dict[str, str]:
        """Canonical uris of the local ids a page refers to but does not hold, from statuses seen before."""
        inside = {str(s.get("id")) for s in page_statuses(statuses)}
        seen = self._seen.get(str(host_of(instance)), {})
        return {ref: seen[ref] for ref in _references(statuses) if ref not in inside and ref in seen}

    def _parents(self, ctx: FetchContext, instance: str, statuses: list[dict[str, Any]]) -> Iterator[Any]:
        """Fetch the parents (and quoted statuses) a page names by local id only, within ``parent_budget``."""
        budget = self.settings.mastodon.parent_budget
        inside = {str(s.get("id")) for s in page_statuses(statuses)}
        seen = self._seen.get(str(host_of(instance)), {})
        for ref in _references(statuses):
            if ref in inside or ref in seen or self._parent_lookups >= budget:
                continue
            self._parent_lookups += 1
            request = {
                "step": "parent",
                "instance": instance,
                "status_id": ref,
                "community": self.settings.mastodon.community,
            }
            yield from self._auxiliary(ctx, instance, request, lambda c, i=ref: c.status(i), f"status {ref}")

    def _auxiliary(
        self,
        ctx: FetchContext,
        instance: str,
        request: dict[str, Any],
        call: Callable[[Any], Any],
        what: str,
        *,
        parents: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """One call whose failure does not stop the run: lands the answer, or a page saying it failed (a 404:
        the status is gone; anything else: the cascade is incomplete). Returns the page, None on failure.

        With ``parents``, the parents the answer names by local id only are fetched and landed first (within
        ``parent_budget``) and the page's request carries their canonical ids (``refs``)."""
        from mastodon import errors as mx

        try:
            data, next_max = self._get(ctx, instance, what, call)
        except (SourceError, mx.MastodonError) as exc:
            if isinstance(exc, mx.MastodonUnauthorizedError):
                raise SourceError(
                    f"mastodon: {what} on {host_of(instance)} needs an access token ({_error_text(exc)}): "
                    f"set {token_env(instance)} or the connection mastodon_default"
                ) from None
            gone = isinstance(exc, mx.MastodonNotFoundError)
            log.warning("mastodon: %s on %s failed (%s)", what, host_of(instance), _error_text(exc))
            flag = "not_found" if gone else "failed"
            yield {"request": {**request, flag: True}, "data": {"error": _error_text(exc)}}
            return None
        if parents:
            statuses = data if isinstance(data, list) else [data]
            yield from self._parents(ctx, instance, statuses)
            request = {**request, "refs": {**_dict(request.get("refs")), **self._refs(instance, statuses)}}
        page = {"request": request, "data": data, "next_max_id": next_max}
        yield {"request": request, "data": data}
        return page

    def _note_page(
        self, ctx: FetchContext, instance: str, timeline: str, statuses: list[dict[str, Any]]
    ) -> None:
        """Roots a timeline page touched (the status itself, or the status a boost names) and the newest id."""
        roots: dict[str, dict[str, Any]] = ctx.cursor.setdefault("roots", {})
        newest = ctx.cursor.setdefault("newest", {})
        key = f"{instance} {timeline}"
        for status in statuses:
            target = _dict(status.get("reblog")) or status
            uri = target.get("uri")
            if not isinstance(uri, str) or target.get("id") is None:
                continue
            entry = roots.setdefault(
                uri, {"instance": instance, "id": str(target["id"]), "uri": uri, "hits": 0}
            )
            entry["hits"] += 1
            entry.update(_counts(target))
            if int(status.get("id") or 0) > int(newest.get(key) or 0):
                newest[key] = str(status["id"])
        ctx.save_cursor(roots=roots, newest=newest)

    def _rank_roots(self, roots: dict[str, dict[str, Any]]) -> list[str]:
        """Most touched roots first, then the most engaged; at most ``max_roots``."""
        limit = self.settings.mastodon.max_roots

        def engagement(entry: dict[str, Any]) -> int:
            return sum(int(entry.get(k) or 0) for k in ("replies", "reblogs", "quotes"))

        ranked = sorted(roots, key=lambda r: (-roots[r].get("hits", 0), -engagement(roots[r]), r))
        if len(ranked) > limit:
            log.info(
                "mastodon: %d roots touched; completing the %d most engaged (max_roots)", len(ranked), limit
            )
        return ranked[:limit]

    # ------------------------------------------------------------------------------------------ expand
    def _expand(self, ctx: FetchContext, base: int) -> Iterator[dict[str, Any]]:
        """Context (and the context of its thread's top), boosts and quotes of every root."""
        roots: dict[str, dict[str, Any]] = ctx.cursor.setdefault("roots", {})
        done: list[str] = ctx.cursor.setdefault("done", [])
        for index, key in enumerate(ctx.cursor["expand"]):
            entry, step = roots[key], base + index * ROOT_STEPS
            if int(ctx.cursor.get("step", 0)) >= step + ROOT_STEPS or key in done:
                continue
            yield from self._contexts(ctx, entry, step)
            top = _dict(entry.get("top")) or entry
            if top.get("uri") in done:
                ctx.save_cursor(step=step + ROOT_STEPS, token=None, collected=0)
                continue
            yield from self._shares(ctx, top, step + 2)
            done.append(str(top.get("uri") or key))
            ctx.save_cursor(step=step + ROOT_STEPS, token=None, collected=0, done=done)

    def _contexts(self, ctx: FetchContext, entry: dict[str, Any], step: int) -> Iterator[dict[str, Any]]:
        instance, local = entry["instance"], entry["id"]
        if int(ctx.cursor.get("step", 0)) <= step:
            request = self._context_request(instance, local, entry.get("uri"))
            page = yield from self._auxiliary(
                ctx, instance, request, lambda c: c.status_context(local), f"context of {local}"
            )
            ancestors = _dict(page["data"]).get("ancestors") if page else None
            if ancestors and isinstance(ancestors[0], dict) and ancestors[0].get("uri"):
                top = ancestors[0]
                entry["top"] = {"instance": instance, "id": str(top["id"]), "uri": top["uri"], **_counts(top)}
            ctx.save_cursor(step=step + 1, token=None, collected=0, roots=ctx.cursor["roots"])
        top = _dict(entry.get("top"))
        if (
            top
            and int(ctx.cursor.get("step", 0)) <= step + 1
            and top["uri"] not in ctx.cursor.get("done", [])
        ):
            request = self._context_request(instance, top["id"], top["uri"])
            yield from self._auxiliary(
                ctx, instance, request, lambda c: c.status_context(top["id"]), f"context of {top['id']}"
            )
        ctx.save_cursor(step=step + 2, token=None, collected=0)

    def _context_request(self, instance: str, local: str, uri: Any) -> dict[str, Any]:
        refs = {str(local): uri} if isinstance(uri, str) else {}
        return {
            "step": "context",
            "instance": instance,
            "status_id": local,
            "uri": uri,
            "community": self.settings.mastodon.community,
            "refs": refs,
        }

    def _shares(self, ctx: FetchContext, top: dict[str, Any], step: int) -> Iterator[dict[str, Any]]:
        """Rebloggers (``reblogged_by``) and quotes (``/quotes``, Mastodon 4.5, needs a token) of a root."""
        instance, local, uri = top["instance"], str(top["id"]), top.get("uri")
        has_token = token_for(ctx, instance) is not None
        size = max(1, min(80, self.settings.mastodon.page_size))
        calls = (
            ("reblogs", lambda c: c.status_reblogged_by(local), "reblog_budget", top.get("reblogs"), True),
            (
                "quotes",
                lambda c: c.status_quotes(local, limit=size),
                "quote_budget",
                top.get("quotes"),
                has_token,
            ),
        )
        for offset, (kind, first, budget_key, known, allowed) in enumerate(calls):
            budget = getattr(self.settings.mastodon, budget_key)
            if int(ctx.cursor.get("step", 0)) > step + offset:
                continue
            if uri and allowed and budget and known != 0:
                request = {
                    "step": kind,
                    "instance": instance,
                    "status_id": local,
                    "uri": uri,
                    "community": self.settings.mastodon.community,
                    "refs": {local: uri},
                }
                yield from self._paged(ctx, step + offset, request, first, budget)
            ctx.save_cursor(step=step + offset + 1, token=None, collected=0)

    def _paged(
        self,
        ctx: FetchContext,
        step: int,
        request: dict[str, Any],
        first: Callable[[Any], Any],
        budget: int,
    ) -> Iterator[dict[str, Any]]:
        """Pages of a list that follows ``Link: rel="next"``; the cursor is saved after each landed page."""
        instance = request["instance"]
        endpoint = f"/api/v1/statuses/{request['status_id']}/{PATHS[request['step']]}"
        position = int(ctx.cursor.get("step", 0))
        max_id = ctx.cursor.get("token") if step == position else None
        collected = int(ctx.cursor.get("collected") or 0) if step == position else 0
        while True:
            params = {"max_id": max_id} if max_id else {}
            page = yield from self._auxiliary(
                ctx,
                instance,
                {**request, "params": params},
                first if not max_id else lambda c, p=params: c.fetch_next({**_next_page(endpoint), **p}),
                f"{request['step']} of {request['status_id']}",
                parents=request["step"] == "quotes",
            )
            data = page["data"] if page else None
            collected += len(data) if isinstance(data, list) else 0
            max_id = page["next_max_id"] if page and data else None
            if not max_id or collected >= budget:
                return
            ctx.save_cursor(step=step, token=str(max_id), collected=collected)

    # ------------------------------------------------------------------------------------------ normalize
    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        yield from map_page(page)


#: list endpoints of the auxiliary steps, paged with Mastodon.py's ``fetch_next`` after the first page
PATHS = {"reblogs": "reblogged_by", "quotes": "quotes"}


def _next_page(endpoint: str) -> dict[str, Any]:
    return {"_pagination_method": "GET", "_pagination_endpoint": endpoint}


def _timeline(client: Any, timeline: str, params: dict[str, Any]) -> Any:
    kind, _, name = timeline.partition(":")
    if kind == "tag":
        return client.timeline_hashtag(name, **params)
    if name == "local":
        return client.timeline_public(local=True, **params)
    return client.timeline_public(**params)


def _counts(status: dict[str, Any]) -> dict[str, Any]:
    keys = {"replies": "replies_count", "reblogs": "reblogs_count", "quotes": "quotes_count"}
    return {k: _count(status.get(v)) for k, v in keys.items() if _count(status.get(v)) is not None}


def _references(statuses: list[dict[str, Any]]) -> list[str]:
    """Local ids a page's statuses point at (``in_reply_to_id``, shallow quotes), in order, once each."""
    refs: dict[str, None] = {}
    for status in page_statuses(statuses):
        parent = status.get("in_reply_to_id")
        _uri, quote_local = quoted(status)
        for ref in (parent, None if _uri else quote_local):
            if ref is not None:
                refs[str(ref)] = None
    return list(refs)


def _strings(values: list[str]) -> list[str]:
    """A list setting without blank entries, each stripped."""
    return [str(v).strip() for v in values if str(v).strip()]
