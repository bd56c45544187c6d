"""Author pseudonyms: an HMAC-SHA256 of ``platform:author`` under a secret key.

The key comes from ``RIPPLE_PSEUDONYM_KEY`` or is generated once in ``state/pseudonym.key`` (mode 0600). It must
be at least :data:`MIN_KEY_BYTES` bytes. Its fingerprint (which reveals nothing about the key) is recorded in
``state/pseudonym.json`` on first use; a later run with a different key stops, because every author would get
a new pseudonym and the lake would count each of them twice. :func:`accept_new_key` is the deliberate way to change it
(``--rekey``); see docs/data-contract.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.commits import has_posts
from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.shared import create_state, read_state, state_location, state_store, write_state
from pipeline.state import state_dir

MIN_KEY_BYTES = 32
ENV_KEY = "RIPPLE_PSEUDONYM_KEY"
_FINGERPRINT_MESSAGE = b"ripple pseudonym key fingerprint v1"
_MAX_CACHE = 2_000_000
#: the key's fingerprint, in ``state/`` (local, or on the data directory's object store: pipeline.shared)
RECORD = "pseudonym.json"


def _generated_key(settings: Settings) -> bytes:
    if state_store(settings) is not None:
        # on an object store: create-only, so every worker ends up with the one key the first of them wrote
        create_state(settings, "pseudonym.key", secrets.token_hex(32))
        text = read_state(settings, "pseudonym.key") or ""
        return text.strip().encode("ascii", "replace")
    key_path = state_dir(settings) / "pseudonym.key"
    if not key_path.exists():
        # O_EXCL: two processes racing to create the key must not end up with different keys
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    os.chmod(key_path, 0o600)
    try:
        return key_path.read_bytes().decode("ascii").strip().encode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"pseudonym key {key_path} is not text; restore it or delete it") from None


def _usable_key(settings: Settings) -> bytes:
    env_key = os.environ.get(ENV_KEY)
    if env_key:
        origin = ENV_KEY
        try:
            key = env_key.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"the pseudonym key in {ENV_KEY} is not valid UTF-8 text") from None
    else:
        origin = state_location(settings, "pseudonym.key")
        key = _generated_key(settings)
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the pseudonym key in {origin} is {len(key)} bytes; it must be at least {MIN_KEY_BYTES} "
            "(for example the output of `openssl rand -hex 32`)"
        )
    return key


def fingerprint(key: bytes) -> str:
    """16 hex digits that identify a key without revealing it."""
    return hashlib.sha256(hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).digest()).hexdigest()[:16]


def _recorded(settings: Settings) -> str | None:
    text = read_state(settings, RECORD)
    if text is None:
        return None
    try:
        return str(json.loads(text)["fingerprint"])
    except (json.JSONDecodeError, KeyError, TypeError):
        where = state_location(settings, RECORD)
        raise ConfigError(f"{where} is not a pseudonym key record; restore it or delete it") from None


def _record(settings: Settings, print_: str, *, first: bool = False) -> None:
    """Record the fingerprint; ``first``: only if none is recorded yet (create-only: of two workers recording
    different keys at once, one wins and the other stops at the comparison that follows)."""
    entry = {"fingerprint": print_, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    text = json.dumps(entry, indent=1) + "\n"
    if first:
        create_state(settings, RECORD, text)
    else:
        write_state(settings, RECORD, text)


def pseudonym_key(settings: Settings, *, rekey: bool = False) -> bytes:
    """The checked key: long enough, and the one the lake's earlier runs used (recorded on first use).
    ``rekey=True`` accepts a new key first (see :func:`accept_new_key`)."""
    if rekey:
        accept_new_key(settings)
    key = _usable_key(settings)
    current, recorded = fingerprint(key), _recorded(settings)
    if recorded is None:
        _record(settings, current, first=True)
        recorded = _recorded(settings)
    if recorded != current:
        raise ConfigError(
            f"the pseudonym key changed (fingerprint {current}, the lake's is {recorded}): every author would "
            "get a new pseudonym; restore the old key, or pass --rekey (see docs/data-contract.md)"
        )
    return key


def key_fingerprint(settings: Settings) -> str | None:
    """Fingerprint of the key in use, for the run log; None when pseudonymisation is off."""
    if not settings.privacy.pseudonymize:
        return None
    return fingerprint(pseudonym_key(settings))


def accept_new_key(settings: Settings) -> str | None:
    """Accept a new key: record its fingerprint. Pseudonyms cannot be translated from one key to another (the HMAC
    is one-way, and imports keep no raw copy), so this refuses while the lake holds posts written under the old
    key: move ``lake/posts`` aside (and re-ingest or re-import) or restore the old key. Returns the new
    fingerprint (None when pseudonymisation is off)."""
    if not settings.privacy.pseudonymize:
        return None
    key = _usable_key(settings)
    current, recorded = fingerprint(key), _recorded(settings)
    if recorded not in (None, current) and has_posts(settings):
        raise ConfigError(
            f"--rekey refused: {settings.posts_dir} holds posts pseudonymised with the previous key "
            f"({recorded}); move it aside and re-ingest, or restore the previous key"
        )
    _record(settings, current)
    return current


def pseudonymizer(settings: Settings, *, rekey: bool = False) -> Pseudonymizer | None:
    """The pseudonymizer of this data directory, or None when ``privacy.pseudonymize`` is off."""
    if not settings.privacy.pseudonymize:
        return None
    return Pseudonymizer(pseudonym_key(settings, rekey=rekey))


class Pseudonymizer:
    def __init__(self, key: bytes, enabled: bool = True):
        self.key = key
        self.enabled = enabled
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, platform: str, raw_id: str) -> str:
        cached = self._cache.get((platform, raw_id))
        if cached is None:
            digest = hmac.new(self.key, f"{platform}:{raw_id}".encode(), hashlib.sha256).hexdigest()
            cached = self._cache[(platform, raw_id)] = "u_" + digest[:20]
        return cached

    def array(self, platform: str, authors: pa.Array) -> pa.Array:
        """The pseudonyms of a column of author ids (nulls stay null); each distinct author is hashed once."""
        uniques = pc.unique(authors).drop_null()
        hashed = [self(platform, a) for a in uniques.to_pylist()]
        if len(self._cache) > _MAX_CACHE:  # bounded memory on huge files
            self._cache.clear()
        return pc.take(pa.array(hashed, pa.string()), pc.index_in(authors, uniques))
