"""Sentiment and emotion scoring of post text (TextBlob, VADER, NRC EmoLex via nrclex).

Every score equals what the library returns when called directly (see ``docs/affect.md``):

* ``tb_polarity``, ``tb_subjectivity``: ``TextBlob(text).sentiment``.
* ``vader_compound``, ``vader_pos``, ``vader_neu``, ``vader_neg``:
  ``SentimentIntensityAnalyzer().polarity_scores(text)``.
* ``nrc_<emotion>``: ``raw_emotion_scores[emotion] / n_tokens`` after
  ``NRCLex().load_token_list(tokenize(text))`` (0.0 when the emotion is absent or the text has no tokens).
* ``arousal``: share of tokens whose NRC entry carries at least one of ``HIGH_AROUSAL``
  (``sum(bool(set(nrc.affect_dict.get(t, ())) & HIGH_AROUSAL) for t in tokens) / n_tokens``).
* ``n_tokens``: ``len(tokenize(text))``.

The speed comes from reusing one analyzer per process, calling TextBlob's pattern sentiment function
without building a ``TextBlob`` object, a VADER subclass that skips the per-character emoji pass when a text
has no emoji, and an NRC lexicon pre-compiled into per-word count vectors. ``tests/unit/test_affect.py``
checks equality with the direct calls on thousands of real and synthetic texts.

NRC EmoLex is licensed for non-commercial research only; ``Scorer(emotions=False)`` (setting
``affect.emotions = false``) switches the NRC columns off: they are NaN and the lexicon is never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from pipeline.errors import RippleError

if TYPE_CHECKING:
    from pipeline.config import Settings

log = logging.getLogger(__name__)

# Bump whenever a score for the same text could change (library upgrade, tokenizer change, new column).
SCORER_VERSION = "1"

EMOTIONS: tuple[str, ...] = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "sadness",
    "surprise",
    "trust",
)
HIGH_AROUSAL: tuple[str, ...] = ("anger", "fear", "surprise", "anticipation", "joy")

NRC_COLUMNS: tuple[str, ...] = tuple(f"nrc_{e}" for e in EMOTIONS)
AFFECT_COLUMNS: tuple[str, ...] = (
    "tb_polarity",
    "tb_subjectivity",
    "vader_compound",
    "vader_pos",
    "vader_neu",
    "vader_neg",
    *NRC_COLUMNS,
    "arousal",
    "n_tokens",
)
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c in AFFECT_COLUMNS if c != "n_tokens")
EMOTION_COLUMNS: tuple[str, ...] = (*NRC_COLUMNS, "arousal")

# Texts longer than this are scored on their first MAX_SCORED_CHARS characters. The lake already quarantines
# anything above lake.max_text_chars (40k by default), so this only guards against pathological input.
MAX_SCORED_CHARS = 100_000

AFFECT_ARROW_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),
        pa.field("scorer_version", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
        *[pa.field(c, pa.float64()) for c in FLOAT_COLUMNS],
        pa.field("n_tokens", pa.int64(), nullable=False),
    ]
)


# ----------------------------------------------------------------------------------------------------
# text preparation


def text_for_scoring(title: str | None, text: str | None) -> str:
    """The text that is scored for an item: title and body, the non-empty ones, joined by a blank line."""
    parts = [p for p in (title, text) if isinstance(p, str) and p.strip()]
    return "\n\n".join(parts)


def text_hash(text: str) -> str:
    """sha256 (hex) of the UTF-8 text; the key that makes scoring incremental."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_tokenizer: Any = None
_url_re: Any = None
# a token counts only if it contains at least one letter (any script)
_LETTER_RE = re.compile(r"[^\W\d_]")


def _tweet_tokenizer() -> Any:
    global _tokenizer, _url_re
    if _tokenizer is None:
        import regex
        from nltk.tokenize.casual import URLS, TweetTokenizer

        # match_phone_numbers=False: digit runs are dropped anyway, and the phone regex is the slowest part
        _tokenizer = TweetTokenizer(
            preserve_case=False, reduce_len=False, strip_handles=True, match_phone_numbers=False
        )
        _url_re = regex.compile(URLS, regex.VERBOSE | regex.I | regex.UNICODE)
    return _tokenizer


def tokenize(text: str) -> list[str]:
    """Word tokens of ``text``: the denominator of the NRC rates.

    NLTK's ``TweetTokenizer(preserve_case=False, strip_handles=True, match_phone_numbers=False)``, then:

    * ``@handles`` are removed (by the tokenizer) and URLs are dropped: they are addresses, not words;
    * a leading ``#`` is stripped, so ``#Outrage`` counts as the word ``outrage``;
    * a token counts only if it contains at least one letter (any script): punctuation, emoticons such as
      ``:-)``, emoji and pure numbers are dropped.

    Emoji still drive VADER (which reads the raw text) but never dilute the NRC rates: an emoji-only text has
    ``n_tokens == 0``.
    """
    if not text:
        return []
    tok = _tweet_tokenizer()
    out = []
    for t in tok.tokenize(text):
        if t[0] == "#":
            t = t.lstrip("#")
        if _LETTER_RE.search(t) is None or _url_re.fullmatch(t) is not None:
            continue
        out.append(t)
    return out


# ----------------------------------------------------------------------------------------------------
# scorer


# the release FastSentimentIntensityAnalyzer mirrors; any other version uses the library class as is
_VADER_RELEASE = "3.3.2"


def _vader_analyzer() -> Any:
    """A VADER analyzer: the fast subclass below for the release it mirrors, else the library's own class."""
    from importlib.metadata import version

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if version("vaderSentiment") != _VADER_RELEASE:
        log.warning("vaderSentiment is not %s: using the slower library class", _VADER_RELEASE)
        return SentimentIntensityAnalyzer()
    return _fast_vader_class()()


def _fast_vader_class() -> type:
    """SentimentIntensityAnalyzer (vaderSentiment 3.3.2) without its avoidable work, same results.

    * The library walks every character and rebuilds the string to replace emoji by their descriptions; for a
      text with none of the lexicon's emoji the rebuild returns the text itself, so it is skipped.
    * ``_negation_check`` and ``_special_idioms_check`` lower-case the whole word list on every call, which
      makes the library quadratic in the length of a text; here that list is lower-cased once per text.

    Everything else is the library's code, copied line for line or inherited.
    """
    from vaderSentiment.vaderSentiment import (
        BOOSTER_DICT,
        N_SCALAR,
        SPECIAL_CASES,
        SentimentIntensityAnalyzer,
        SentiText,
        negated,
    )

    class FastSentimentIntensityAnalyzer(SentimentIntensityAnalyzer):
        def __init__(self) -> None:
            super().__init__()
            # polarity_scores only looks emoji up one character at a time
            self._emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)
            self._words: list[str] | None = None
            self._words_lower: list[str] = []

        def _lower(self, words: list[str]) -> list[str]:
            # the word list of one text never changes while it is scored
            if words is not self._words:
                self._words = words
                self._words_lower = [str(w).lower() for w in words]
            return self._words_lower

        def polarity_scores(self, text: str) -> dict[str, float]:
            if self._emoji_chars.isdisjoint(text):
                text = text.strip()
            else:
                # the library's emoji pass, unchanged
                text_no_emoji = ""
                prev_space = True
                for chr in text:
                    if chr in self.emojis:
                        description = self.emojis[chr]
                        if not prev_space:
                            text_no_emoji += " "
                        text_no_emoji += description
                        prev_space = False
                    else:
                        text_no_emoji += chr
                        prev_space = chr == " "
                text = text_no_emoji.strip()
            sentitext = SentiText(text)
            sentiments: list[float] = []
            words_and_emoticons = sentitext.words_and_emoticons
            try:
                for i, item in enumerate(words_and_emoticons):
                    valence = 0
                    if item.lower() in BOOSTER_DICT:
                        sentiments.append(valence)
                        continue
                    if (
                        i < len(words_and_emoticons) - 1
                        and item.lower() == "kind"
                        and words_and_emoticons[i + 1].lower() == "of"
                    ):
                        sentiments.append(valence)
                        continue
                    sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
                sentiments = self._but_check(words_and_emoticons, sentiments)
                return self.score_valence(sentiments, text)
            finally:
                self._words, self._words_lower = None, []

        def _special_idioms_check(self, valence, words_and_emoticons, i):  # type: ignore[no-untyped-def]
            w = self._lower(words_and_emoticons)
            onezero = f"{w[i - 1]} {w[i]}"
            twoonezero = f"{w[i - 2]} {w[i - 1]} {w[i]}"
            twoone = f"{w[i - 2]} {w[i - 1]}"
            threetwoone = f"{w[i - 3]} {w[i - 2]} {w[i - 1]}"
            threetwo = f"{w[i - 3]} {w[i - 2]}"
            sequences = [onezero, twoonezero, twoone, threetwoone, threetwo]
            for seq in sequences:
                if seq in SPECIAL_CASES:
                    valence = SPECIAL_CASES[seq]
                    break
            if len(w) - 1 > i:
                zeroone = f"{w[i]} {w[i + 1]}"
                if zeroone in SPECIAL_CASES:
                    valence = SPECIAL_CASES[zeroone]
            if len(w) - 1 > i + 1:
                zeroonetwo = f"{w[i]} {w[i + 1]} {w[i + 2]}"
                if zeroonetwo in SPECIAL_CASES:
                    valence = SPECIAL_CASES[zeroonetwo]
            n_grams = [threetwoone, threetwo, twoone]
            for n_gram in n_grams:
                if n_gram in BOOSTER_DICT:
                    valence = valence + BOOSTER_DICT[n_gram]
            return valence

        def _negation_check(self, valence, words_and_emoticons, start_i, i):  # type: ignore[no-untyped-def]
            words_and_emoticons_lower = self._lower(words_and_emoticons)
            if start_i == 0:
                if negated([words_and_emoticons_lower[i - (start_i + 1)]]):
                    valence = valence * N_SCALAR
            if start_i == 1:
                if words_and_emoticons_lower[i - 2] == "never" and (
                    words_and_emoticons_lower[i - 1] == "so" or words_and_emoticons_lower[i - 1] == "this"
                ):
                    valence = valence * 1.25
                elif (
                    words_and_emoticons_lower[i - 2] == "without"
                    and words_and_emoticons_lower[i - 1] == "doubt"
                ):
                    valence = valence
                elif negated([words_and_emoticons_lower[i - (start_i + 1)]]):
                    valence = valence * N_SCALAR
            if start_i == 2:
                if (
                    words_and_emoticons_lower[i - 3] == "never"
                    and (
                        words_and_emoticons_lower[i - 2] == "so" or words_and_emoticons_lower[i - 2] == "this"
                    )
                    or (
                        words_and_emoticons_lower[i - 1] == "so" or words_and_emoticons_lower[i - 1] == "this"
                    )
                ):
                    valence = valence * 1.25
                elif words_and_emoticons_lower[i - 3] == "without" and (
                    words_and_emoticons_lower[i - 2] == "doubt" or words_and_emoticons_lower[i - 1] == "doubt"
                ):
                    valence = valence
                elif negated([words_and_emoticons_lower[i - (start_i + 1)]]):
                    valence = valence * N_SCALAR
            return valence

    return FastSentimentIntensityAnalyzer


def _nrc_tables() -> tuple[dict[str, tuple[int, ...]], frozenset[str]]:
    """The nrclex lexicon as word -> count per emotion (EMOTIONS order), and the high-arousal words."""
    from nrclex import NRCLex

    lexicon = NRCLex().__lexicon__
    high = set(HIGH_AROUSAL)
    counts: dict[str, tuple[int, ...]] = {}
    arousing: set[str] = set()
    for word, affects in lexicon.items():
        c = Counter(affects)
        vec = tuple(c.get(e, 0) for e in EMOTIONS)
        if any(vec):
            counts[word] = vec
        if high.intersection(affects):
            arousing.add(word)
    return counts, frozenset(arousing)


class Scorer:
    """Scores texts; build one per process and reuse it (building loads the lexicons)."""

    def __init__(self, emotions: bool = True) -> None:
        from textblob.en import sentiment as pattern_sentiment

        self.emotions = bool(emotions)
        # TextBlob(text).sentiment is PatternAnalyzer.analyze(text) == Sentiment(*pattern_sentiment(text))
        self._pattern_sentiment = pattern_sentiment
        self._vader = _vader_analyzer()
        if self.emotions:
            self._nrc_counts, self._nrc_arousing = _nrc_tables()
        _tweet_tokenizer()

    @staticmethod
    def prepare(text: Any) -> str:
        """Coerce anything to the string that is scored: None -> "", bytes decoded as UTF-8 (invalid bytes
        replaced), lone surrogates replaced, and cut at MAX_SCORED_CHARS."""
        if text is None:
            return ""
        if isinstance(text, bytes | bytearray | memoryview):
            text = bytes(text).decode("utf-8", "replace")
        elif not isinstance(text, str):
            text = str(text)
        if len(text) > MAX_SCORED_CHARS:
            text = text[:MAX_SCORED_CHARS]
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
        return text

    def score(self, text: str) -> dict[str, float]:
        """All AFFECT_COLUMNS for one text (n_tokens as int). Never raises on any string input."""
        text = self.prepare(text)
        row: dict[str, float] = {}
        polarity, subjectivity = self._pattern_sentiment(text)
        vs = self._vader.polarity_scores(text)
        row["tb_polarity"] = float(polarity)
        row["tb_subjectivity"] = float(subjectivity)
        row["vader_compound"] = float(vs["compound"])
        row["vader_pos"] = float(vs["pos"])
        row["vader_neu"] = float(vs["neu"])
        row["vader_neg"] = float(vs["neg"])
        tokens = tokenize(text)
        n = len(tokens)
        if self.emotions:
            totals = [0] * len(EMOTIONS)
            n_arousing = 0
            counts = self._nrc_counts
            arousing = self._nrc_arousing
            for t in tokens:
                vec = counts.get(t)
                if vec is not None:
                    for k, v in enumerate(vec):
                        totals[k] += v
                    if t in arousing:
                        n_arousing += 1
            for col, total in zip(NRC_COLUMNS, totals, strict=True):
                row[col] = total / n if n else 0.0
            row["arousal"] = n_arousing / n if n else 0.0
        else:
            for col in EMOTION_COLUMNS:
                row[col] = math.nan
        row["n_tokens"] = n
        return row

    def score_many(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Column -> array (float64; n_tokens int64), in the order of ``texts``."""
        out = {c: np.empty(len(texts), dtype=np.float64) for c in FLOAT_COLUMNS}
        out["n_tokens"] = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            row = self.score(text)
            for c in AFFECT_COLUMNS:
                out[c][i] = row[c]
        return {c: out[c] for c in AFFECT_COLUMNS}


def score_direct(text: str, emotions: bool = True) -> dict[str, float]:
    """Reference: the straightforward calls with fresh library objects. Slow; for tests and the bench."""
    from nrclex import NRCLex
    from textblob import TextBlob
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    text = Scorer.prepare(text)
    sentiment = TextBlob(text).sentiment
    vs = SentimentIntensityAnalyzer().polarity_scores(text)
    tokens = tokenize(text)
    n = len(tokens)
    row: dict[str, float] = {
        "tb_polarity": float(sentiment.polarity),
        "tb_subjectivity": float(sentiment.subjectivity),
        "vader_compound": float(vs["compound"]),
        "vader_pos": float(vs["pos"]),
        "vader_neu": float(vs["neu"]),
        "vader_neg": float(vs["neg"]),
    }
    if emotions:
        nrc = NRCLex()
        nrc.load_token_list(tokens)
        raw = nrc.raw_emotion_scores
        for e in EMOTIONS:
            row[f"nrc_{e}"] = raw.get(e, 0) / n if n else 0.0
        high = set(HIGH_AROUSAL)
        n_arousing = sum(1 for t in tokens if high.intersection(nrc.affect_dict.get(t, ())))
        row["arousal"] = n_arousing / n if n else 0.0
    else:
        for col in EMOTION_COLUMNS:
            row[col] = math.nan
    row["n_tokens"] = n
    return row


# ----------------------------------------------------------------------------------------------------
# lake integration


def scorer_version(emotions: bool = True) -> str:
    """Version string stored with every score: SCORER_VERSION, marked when emotion scoring is off."""
    return SCORER_VERSION if emotions else f"{SCORER_VERSION}-noemotions"


def affect_dir(settings: Settings) -> Path:
    return settings.lake_dir / "affect"


def affect_glob(settings: Settings) -> str:
    """Glob of every affect file (all scorer versions), for ``read_parquet(..., hive_partitioning=true)``."""
    return str(affect_dir(settings) / "scorer=*" / "*.parquet")


def has_affect(settings: Settings) -> bool:
    return any(affect_dir(settings).glob("scorer=*/*.parquet"))


def _columns_to_table(
    post_ids: Sequence[str],
    hashes: Sequence[str],
    version: str,
    scored_at: datetime,
    columns: dict[str, np.ndarray],
) -> pa.Table:
    n = len(post_ids)
    arrays: list[pa.Array] = [
        pa.array(post_ids, pa.string()),
        pa.array(hashes, pa.string()),
        pa.array([version] * n, pa.string()),
        pa.array([scored_at] * n, AFFECT_ARROW_SCHEMA.field("scored_at").type),
    ]
    for col in AFFECT_COLUMNS:
        field = AFFECT_ARROW_SCHEMA.field(col)
        # NaN (emotion scoring off) is stored as NULL: "not computed", and SQL aggregates skip it
        arrays.append(pa.array(columns[col], field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=AFFECT_ARROW_SCHEMA)


def _write_table(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    from pipeline.files import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


_worker_scorer: Scorer | None = None


def _init_worker(emotions: bool) -> None:
    global _worker_scorer
    _worker_scorer = Scorer(emotions=emotions)


def _score_batch(payload: dict[str, Any], scorer: Scorer | None = None) -> dict[str, int]:
    """Score the unique texts of one batch and write one affect file with a row per post (worker side)."""
    scorer = scorer or _worker_scorer
    if scorer is None:
        scorer = Scorer(emotions=payload["emotions"])
    texts: list[str] = payload["texts"]
    hashes: list[str] = payload["hashes"]
    post_ids: list[list[str]] = payload["post_ids"]
    cols = {c: [] for c in AFFECT_COLUMNS}
    row_ids: list[str] = []
    row_hashes: list[str] = []
    failed = texts_ok = 0
    for text, h, ids in zip(texts, hashes, post_ids, strict=True):
        try:
            row = scorer.score(text)
        except Exception:  # noqa: BLE001 - one bad text must not lose the batch; it is retried next run
            log.exception("affect scoring failed for text %s (posts %s)", h, ids[:3])
            failed += len(ids)
            continue
        texts_ok += 1
        for pid in ids:
            row_ids.append(pid)
            row_hashes.append(h)
            for c in AFFECT_COLUMNS:
                cols[c].append(row[c])
    if row_ids:
        arrays = {
            c: np.asarray(v, dtype=np.int64 if c == "n_tokens" else np.float64) for c, v in cols.items()
        }
        table = _columns_to_table(row_ids, row_hashes, payload["version"], payload["scored_at"], arrays)
        _write_table(table, Path(payload["path"]))
    return {
        "scored": len(row_ids),
        "texts_scored": texts_ok,
        "failed": failed,
        "files_written": int(bool(row_ids)),
    }


def _arrow_reader(con: Any, query: str, params: list[Any] | None, batch_size: int) -> Any:
    """Stream a query's rows as Arrow record batches (the method name differs across DuckDB versions)."""
    rel = con.sql(query, params=params)
    for name in ("to_arrow_reader", "fetch_arrow_reader", "fetch_record_batch"):
        method = getattr(rel, name, None)
        if method is not None:
            return method(batch_size)
    raise RuntimeError("this DuckDB version cannot stream Arrow record batches")


_LATEST_POSTS_SQL = """
select
    post_id,
    title,
    text,
    coalesce(is_deleted, false) or coalesce(is_removed, false) as is_gone
from read_parquet(?, hive_partitioning = true, union_by_name = true)
qualify row_number() over (partition by post_id order by fetched_at desc, run_id desc) = 1
"""


def score_lake(
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Score every post of the lake whose current text has not been scored by the current scorer.

    A post is a candidate when its latest fetch is not deleted/removed and ``text_for_scoring(title, text)``
    is not empty. It is skipped when the latest affect row of the current scorer version for that post has the
    same ``text_hash``; when another post already has a score for the same text, that score is copied instead
    of recomputed. New rows go to ``<lake>/affect/scorer=<version>/<run>-<n>.parquet`` (atomic writes). With
    ``force=True`` every candidate is scored again and the version's older files are removed afterwards. After
    a run without failures, directories of other scorer versions are removed: the warehouse only reads the
    scorer used last. Returns counts.
    """
    import concurrent.futures as cf
    import multiprocessing as mp
    import shutil
    import tempfile

    import duckdb

    from pipeline.files import remove_stale_temp_files
    from pipeline.lake import has_posts, posts_glob

    started = time.monotonic()
    emotions = bool(settings.get("affect", "emotions", True))
    version = scorer_version(emotions)
    result: dict[str, Any] = {
        "enabled": bool(settings.get("affect", "enabled", True)),
        "scorer_version": version,
        "candidates": 0,
        "scored": 0,
        "texts_scored": 0,
        "reused": 0,
        "skipped_already_scored": 0,
        "skipped_no_text": 0,
        "skipped_deleted": 0,
        "failed": 0,
        "files_written": 0,
        "files_removed": 0,
        "seconds": 0.0,
    }
    if not result["enabled"] or not has_posts(settings):
        return result

    root = affect_dir(settings)
    out_dir = root / f"scorer={version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(root)
    previous_files = sorted(out_dir.glob("*.parquet"))
    scored_at = datetime.now(UTC)
    run_tag = scored_at.strftime("%Y%m%dT%H%M%S%fZ")
    processes = max(1, int(settings.get("affect", "processes", 1)))
    batch_size = max(1, int(settings.get("affect", "batch_size", 5_000)))

    def out_path(kind: str, seq: int) -> Path:
        return out_dir / f"{run_tag}-{kind}{seq:05d}.parquet"

    spill = tempfile.mkdtemp(prefix=".spill-", dir=root)
    # a private in-memory database; readers stream from cursors while the main connection writes
    con = duckdb.connect()
    try:
        con.execute(f"set temp_directory = '{spill}'")
        con.execute("set preserve_insertion_order = false")
        con.execute("create table candidates (post_id varchar, text_hash varchar, text varchar)")
        if previous_files and not force:
            scored_glob = str(out_dir / "*.parquet")
            con.execute(
                """
                create table scored as
                select * exclude (rn) from (
                    select *, row_number() over (partition by post_id order by scored_at desc) as rn
                    from read_parquet(?, union_by_name = true, hive_partitioning = false)
                ) where rn = 1
                """,
                [scored_glob],
            )
        else:
            con.execute("create table scored (post_id varchar, text_hash varchar, scored_at timestamptz)")

        # 1. latest version of every post -> candidates whose current text is not scored yet
        reader_con = con.cursor()
        reader = _arrow_reader(reader_con, _LATEST_POSTS_SQL, [posts_glob(settings)], batch_size)
        for batch in reader:
            ids: list[str] = []
            hashes: list[str] = []
            texts: list[str] = []
            for pid, title, body, gone in zip(
                batch.column(0).to_pylist(),
                batch.column(1).to_pylist(),
                batch.column(2).to_pylist(),
                batch.column(3).to_pylist(),
                strict=True,
            ):
                if gone:
                    result["skipped_deleted"] += 1
                    continue
                text = text_for_scoring(title, body)
                if not text:
                    result["skipped_no_text"] += 1
                    continue
                ids.append(pid)
                hashes.append(text_hash(text))
                texts.append(text)
            if not ids:
                continue
            chunk = pa.table({"post_id": ids, "text_hash": hashes, "text": texts})  # noqa: F841 - used by SQL
            inserted = con.execute(
                """
                insert into candidates
                select c.post_id, c.text_hash, c.text
                from chunk c
                anti join scored s on s.post_id = c.post_id and s.text_hash = c.text_hash
                """
            ).fetchall()[0][0]
            result["skipped_already_scored"] += len(ids) - inserted
        reader_con.close()
        total = con.execute("select count(*) from candidates").fetchall()[0][0]
        result["candidates"] = total
        done = 0
        if progress:
            progress(0, total)

        # 2. texts already scored for another post: copy the score
        seq = 0
        if total and previous_files and not force:
            con.execute(
                """
                create table known as
                select * exclude (rn) from (
                    select *, row_number() over (partition by text_hash order by scored_at desc) as rn
                    from read_parquet(?, union_by_name = true, hive_partitioning = false)
                    where text_hash in (select text_hash from candidates)
                ) where rn = 1
                """,
                [str(out_dir / "*.parquet")],
            )
            cols = ", ".join(f"k.{c}" for c in AFFECT_COLUMNS)
            reuse = _arrow_reader(
                con.cursor(),
                f"select c.post_id, c.text_hash, {cols} from candidates c join known k using (text_hash)",
                None,
                batch_size,
            )
            for batch in reuse:
                if batch.num_rows == 0:
                    continue
                arrays = {c: batch.column(c).to_numpy(zero_copy_only=False) for c in AFFECT_COLUMNS}
                arrays = {
                    c: np.asarray(a, dtype=np.int64 if c == "n_tokens" else np.float64)
                    for c, a in arrays.items()
                }
                table = _columns_to_table(
                    batch.column("post_id").to_pylist(),
                    batch.column("text_hash").to_pylist(),
                    version,
                    scored_at,
                    arrays,
                )
                seq += 1
                _write_table(table, out_path("r", seq))
                result["reused"] += batch.num_rows
                result["files_written"] += 1
                done += batch.num_rows
                if progress:
                    progress(done, total)
            con.execute("delete from candidates where text_hash in (select text_hash from known)")

        # 3. new texts: unique by hash, scored in worker processes, one file per batch
        todo = _arrow_reader(
            con.cursor(),
            """
            select text_hash, any_value(text) as text, list(post_id order by post_id) as post_ids
            from candidates group by text_hash
            """,
            None,
            batch_size,
        )

        def payloads() -> Iterator[dict[str, Any]]:
            nonlocal seq
            for batch in todo:
                if batch.num_rows == 0:
                    continue
                seq += 1
                yield {
                    "texts": batch.column("text").to_pylist(),
                    "hashes": batch.column("text_hash").to_pylist(),
                    "post_ids": batch.column("post_ids").to_pylist(),
                    "version": version,
                    "scored_at": scored_at,
                    "emotions": emotions,
                    "path": str(out_path("s", seq)),
                }

        def collect(counts: dict[str, int], n_posts: int) -> None:
            nonlocal done
            for k, v in counts.items():
                result[k] += v
            done += n_posts
            if progress:
                progress(done, total)

        if processes == 1:
            scorer = Scorer(emotions=emotions)
            for payload in payloads():
                n_posts = sum(len(ids) for ids in payload["post_ids"])
                collect(_score_batch(payload, scorer), n_posts)
        else:
            ctx = mp.get_context("spawn")  # never fork a process that holds DuckDB threads
            with cf.ProcessPoolExecutor(
                max_workers=processes, mp_context=ctx, initializer=_init_worker, initargs=(emotions,)
            ) as pool:
                pending: dict[cf.Future[dict[str, int]], int] = {}
                source = payloads()
                exhausted = False
                while pending or not exhausted:
                    # at most two batches per worker in flight: bounded memory whatever the lake size
                    while not exhausted and len(pending) < 2 * processes:
                        payload = next(source, None)
                        if payload is None:
                            exhausted = True
                            break
                        n_posts = sum(len(ids) for ids in payload["post_ids"])
                        pending[pool.submit(_score_batch, payload)] = n_posts
                    if not pending:
                        break
                    finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for fut in finished:
                        n_posts = pending.pop(fut)
                        try:
                            counts = fut.result()
                        except cf.process.BrokenProcessPool as exc:
                            raise RippleError(f"affect scoring worker died: {exc}") from exc
                        except Exception:  # noqa: BLE001 - counted; these posts are retried next run
                            log.exception("affect batch failed")
                            counts = {"failed": n_posts}
                        collect(counts, n_posts)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        result["seconds"] = round(time.monotonic() - started, 3)

    # 4. housekeeping: superseded files of this version (force) and other scorer versions
    if result["failed"] == 0:
        if force:
            for path in previous_files:
                path.unlink(missing_ok=True)
                result["files_removed"] += 1
        for other in root.glob("scorer=*"):
            if other.is_dir() and other != out_dir:
                result["files_removed"] += sum(1 for _ in other.glob("*.parquet"))
                shutil.rmtree(other, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def rescore(settings: Settings, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Score every post again with the current scorer (after a library upgrade, for instance)."""
    return score_lake(settings, progress, force=True)
