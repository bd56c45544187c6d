"""The affect scorer: sentiment and emotion scores of a text (TextBlob, VADER, NRC EmoLex via nrclex).

Every score equals what the library returns when called directly (see ``docs/affect.md``):

* ``tb_polarity``, ``tb_subjectivity``: ``TextBlob(text).sentiment``.
* ``vader_compound``, ``vader_pos``, ``vader_neu``, ``vader_neg``:
  ``SentimentIntensityAnalyzer().polarity_scores(text)``.
* ``nrc_<emotion>``: ``raw_emotion_scores[emotion] / n_tokens`` after
  ``NRCLex().load_token_list(tokenize(text))`` (0.0 when the emotion is absent or the text has no tokens).
* ``arousal``: share of tokens whose NRC entry carries at least one of ``HIGH_AROUSAL``
  (``sum(bool(set(nrc.affect_dict.get(t, ())) & HIGH_AROUSAL) for t in tokens) / n_tokens``).
* ``n_tokens``: ``len(tokenize(text))``.

The speed comes from reusing one analyzer per process, tokens and NRC counts computed once per distinct unit of
text (``_Tokenizer``), TextBlob's sentiment with its per-chunk work remembered (``pipeline.textblob_fast``) and a
VADER subclass that does the library's work once per text (``pipeline.vader_fast``); each mirrors one library
release and falls back to the library code otherwise. ``tests/unit/test_affect.py`` checks equality with the
direct calls on thousands of real, synthetic and adversarial texts.

NRC EmoLex is licensed for non-commercial research only; ``Scorer(emotions=False)`` (setting
``affect.emotions = false``) switches the NRC columns off: they are NaN and the lexicon is never loaded.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

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

# ----------------------------------------------------------------------------------------------------
# text preparation


def text_for_scoring(title: str | None, text: str | None) -> str:
    """The text that is scored for an item: title and body, the non-empty ones, joined by a blank line."""
    parts = [p for p in (title, text) if isinstance(p, str) and p.strip()]
    return "\n\n".join(parts)


@functools.cache
def _not_space_class() -> str:
    """An RE2 class of every character that is not ``str.isspace()``: a part is kept when it has one."""
    ranges: list[list[int]] = []
    for c in (c for c in range(0x110000) if chr(c).isspace()):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]"


def text_for_scoring_sql(title: str, text: str) -> str:
    """``text_for_scoring`` as a DuckDB expression over the columns ``title`` and ``text``; ``sha256`` of it is
    ``text_hash`` (tests/unit/test_affect.py checks both against the Python functions on adversarial texts)."""

    def kept(col: str) -> str:
        return f"coalesce(regexp_matches({col}, '{_not_space_class()}'), false)"

    return (
        f"case when {kept(title)} and {kept(text)} then {title} || chr(10) || chr(10) || {text}"
        f" when {kept(title)} then {title} when {kept(text)} then {text} else '' end"
    )


def text_hash(text: str) -> str:
    """sha256 (hex) of the UTF-8 text; the key that makes scoring incremental."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# a token counts only if it contains at least one letter (any script)
_LETTER_RE = re.compile(r"[^\W\d_]")
# every alternative of NLTK's EMOTICONS pattern contains one of these (eyes, or the heart's "<")
_EMOTICON_CHARS = frozenset(":;=8<")
# the NLTK release whose TweetTokenizer.tokenize _Tokenizer.units mirrors
_NLTK_RELEASE = "3.10.4"
_MAX_UNITS = 200_000


class _Tokenizer:
    """``tokenize`` with its work remembered per whitespace-separated unit of text.

    ``TweetTokenizer.tokenize`` rewrites HTML entities, removes handles and shortens runs of 4+ equal
    punctuation marks on the whole text, then runs ``WORD_RE.findall``. No alternative of ``WORD_RE`` starts
    at whitespace or crosses it, except the ellipsis (``". . ."``), and its look-arounds only test for ``@``
    or word boundaries, which whitespace and the ends of a string satisfy alike. So after the rewrites the
    text splits into units at whitespace (not between a unit ending in ``.`` and one starting with ``.``),
    ``findall`` over the text is the concatenation of ``findall`` over its units, and the tokens of a unit
    (after the filtering below) depend on the unit alone: they are computed once per distinct unit.
    """

    def __init__(self) -> None:
        from importlib.metadata import version

        import regex
        from nltk.tokenize import casual

        self.casual = casual
        # match_phone_numbers=False: digit runs are dropped anyway, and the phone regex is the slowest part.
        # preserve_case=True: tokens are lower-cased below exactly as preserve_case=False does.
        self.tweet = casual.TweetTokenizer(
            preserve_case=True, reduce_len=False, strip_handles=True, match_phone_numbers=False
        )
        self.word_re = self.tweet.WORD_RE
        self.url_re = regex.compile(casual.URLS, regex.VERBOSE | regex.I | regex.UNICODE)
        self.unit_re = regex.compile(r"\S+(?:(?<=\.)\s+(?=\.)\S+)*", regex.UNICODE)
        self.by_units = version("nltk") == _NLTK_RELEASE
        self.memo: dict[str, tuple[str, ...]] = {}

    def units(self, text: str) -> list[str]:
        """The units of ``text`` after the tokenizer's whole-text rewrites (the whole text for another NLTK)."""
        if not text:
            return []
        if not self.by_units:
            return [text]
        casual = self.casual
        # entities start with "&" and handles with "@": without them both rewrites return the text as is
        if "&" in text:
            text = casual._replace_html_entities(text)
        if "@" in text:
            text = casual.remove_handles(text)
        return self.unit_re.findall(casual.HANG_RE.sub(r"\1\1\1", text))

    def unit_tokens(self, unit: str) -> tuple[str, ...]:
        """The kept tokens of one unit (remembered; the memo is cleared when it grows past _MAX_UNITS)."""
        tokens = self.memo.get(unit)
        if tokens is None:
            if len(self.memo) > _MAX_UNITS:
                self.memo.clear()
            words = self.word_re.findall(unit) if self.by_units else self.tweet.tokenize(unit)
            tokens = self.memo[unit] = self.keep(words)
        return tokens

    def keep(self, words: list[str]) -> tuple[str, ...]:
        """Lower-case as ``preserve_case=False`` does, strip a leading ``#``, drop URLs and letterless tokens.

        ``preserve_case=False`` maps a token ``x`` to ``x if EMOTICON_RE.search(x) else x.lower()``; that only
        matters when ``x.lower() != x``, and the search can only match a token holding one of ``:;=8<``. URLs
        always contain ``.`` or ``:``."""
        emoticon = self.casual.EMOTICON_RE.search
        url = self.url_re.fullmatch
        out = []
        for t in words:
            low = t.lower()
            if low != t and ((self.by_units and _EMOTICON_CHARS.isdisjoint(t)) or emoticon(t) is None):
                t = low
            if t[0] == "#":
                t = t.lstrip("#")
            if _LETTER_RE.search(t) is None or (("." in t or ":" in t) and url(t) is not None):
                continue
            out.append(t)
        return tuple(out)


_tokenizer: _Tokenizer | None = None


def _tweet_tokenizer() -> _Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        _tokenizer = _Tokenizer()
    return _tokenizer


def tokenize(text: str) -> list[str]:
    """Word tokens of ``text``: the denominator of the NRC rates.

    NLTK's ``TweetTokenizer(preserve_case=False, strip_handles=True, match_phone_numbers=False)``, then:

    * ``@handles`` are removed (by the tokenizer) and URLs are dropped: they are addresses, not words;
    * a leading ``#`` is stripped, so ``#Outrage`` counts as the word ``outrage``;
    * a token counts only if it contains at least one letter (any script): punctuation, emoticons such as
      ``:-)``, emoji and pure numbers are dropped.

    Emoji still drive VADER (which reads the raw text) but never dilute the NRC rates: an emoji-only text has
    ``n_tokens == 0``. (``_Tokenizer`` explains how the same tokens are computed faster.)
    """
    tok = _tweet_tokenizer()
    out: list[str] = []
    for unit in tok.units(text):
        out.extend(tok.unit_tokens(unit))
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
    from pipeline.vader_fast import FastSentimentIntensityAnalyzer

    return FastSentimentIntensityAnalyzer()


def _pattern_sentiment() -> Any:
    """TextBlob's sentiment function: the fast copy below for the release it mirrors, else the library's own."""
    from importlib.metadata import version

    from textblob.en import sentiment

    from pipeline import textblob_fast

    if version("textblob") != textblob_fast.TEXTBLOB_RELEASE:
        log.warning("textblob is not %s: using the slower library function", textblob_fast.TEXTBLOB_RELEASE)
        return sentiment
    return textblob_fast.fast_pattern_sentiment()


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
        self.emotions = bool(emotions)
        # TextBlob(text).sentiment is PatternAnalyzer.analyze(text) == Sentiment(*pattern_sentiment(text))
        self._pattern_sentiment = _pattern_sentiment()
        self._vader = _vader_analyzer()
        if self.emotions:
            self._nrc_counts, self._nrc_arousing = _nrc_tables()
        self._tokenizer = _tweet_tokenizer()
        # unit of text (see _Tokenizer) -> its counts (see _count)
        self._unit_counts: dict[str, tuple[int, tuple[int, ...] | None, int]] = {}

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
        n, totals, n_arousing = self._emotion_counts(text)
        if self.emotions:
            for col, total in zip(NRC_COLUMNS, totals, strict=True):
                row[col] = total / n if n else 0.0
            row["arousal"] = n_arousing / n if n else 0.0
        else:
            for col in EMOTION_COLUMNS:
                row[col] = math.nan
        row["n_tokens"] = n
        return row

    def _emotion_counts(self, text: str) -> tuple[int, list[int], int]:
        """Tokens, NRC counts per emotion (EMOTIONS order) and arousing tokens of ``text``: integer sums over
        its units (``_Tokenizer``), each unit's counted once per distinct unit."""
        tok = self._tokenizer
        memo = self._unit_counts
        n = n_arousing = 0
        totals = [0] * len(EMOTIONS)
        for unit in tok.units(text):
            counts = memo.get(unit)
            if counts is None:
                if len(memo) > _MAX_UNITS:
                    memo.clear()
                counts = memo[unit] = self._count(tok.unit_tokens(unit))
            n += counts[0]
            if counts[1] is not None:
                totals = [a + b for a, b in zip(totals, counts[1], strict=True)]
                n_arousing += counts[2]
        return n, totals, n_arousing

    def _count(self, tokens: tuple[str, ...]) -> tuple[int, tuple[int, ...] | None, int]:
        """(tokens, summed NRC vector or None when no token is in the lexicon, arousing tokens)."""
        if not self.emotions:
            return len(tokens), None, 0
        totals = [0] * len(EMOTIONS)
        hits = n_arousing = 0
        for t in tokens:
            vec = self._nrc_counts.get(t)
            if vec is not None:
                hits += 1
                for k, v in enumerate(vec):
                    totals[k] += v
                if t in self._nrc_arousing:
                    n_arousing += 1
        return len(tokens), (tuple(totals) if hits else None), n_arousing

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


def scorer_version(emotions: bool = True) -> str:
    """Version string stored with every score: SCORER_VERSION, marked when emotion scoring is off."""
    return SCORER_VERSION if emotions else f"{SCORER_VERSION}-noemotions"
