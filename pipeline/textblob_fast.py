"""TextBlob's pattern sentiment (textblob 0.20.1) without its avoidable work, same results.

``TextBlob(text).sentiment`` is ``textblob.en.sentiment(text)``: the library's ``Sentiment.__call__`` tokenizes
the text with ``find_tokens`` and averages the lexicon's assessments of the lower-cased words. Two costs in it
are redundant:

* ``find_tokens`` splits leading and trailing punctuation off every whitespace-separated chunk in a Python loop
  whose result depends on the chunk alone; here that result is remembered per distinct chunk (a bounded dict,
  cleared when it grows past ``_MAX_CHUNKS``). Every other step of ``find_tokens`` (contractions, quotes, line
  breaks, sentence splitting, sarcasm and emoticon joining) is the library's code, copied line for line.
* the lexicon is a lazily loaded dict whose ``in`` and ``[]`` go through a Python method on every word; here a
  copy of the loaded analyzer uses the plain dict methods.

``pipeline.scoring`` uses this only when the installed textblob is that release;
``tests/unit/test_affect.py`` checks equal scores.
"""

from __future__ import annotations

import re
from typing import Any

from textblob._text import (
    ABBREVIATIONS,
    EMOTICONS,
    EOS,
    IRONY,
    MOOD,
    PUNCTUATION,
    RE_ABBR1,
    RE_ABBR2,
    RE_ABBR3,
    RE_EMOTICONS,
    RE_SARCASM,
    TOKEN,
    replacements,
)

TEXTBLOB_RELEASE = "0.20.1"
_MAX_CHUNKS = 200_000
_PUNCT = tuple(PUNCTUATION.replace(".", ""))
_PUNCT_DOT = (*_PUNCT, ".")
_REPLACE = [(re.compile(a), b) for a, b in replacements.items()]
_SENTENCE_END = ("...", ".", "!", "?", EOS)
_SENTENCE_TAIL = ("'", '"', "”", "’", "...", ".", "!", "?", ")", EOS)
# lower-cased emoticon -> polarity of the first EMOTICONS entry (in the dict's order) that holds it
_EMOTICON_POLARITY: dict[str, float] = {}
for (_type, _p), _faces in EMOTICONS.items():
    for _face in _faces:
        _EMOTICON_POLARITY.setdefault(_face.lower(), _p)


def _split_chunk(t: str) -> tuple[str, ...]:
    """The library's per-chunk loop of ``find_tokens``: leading punctuation, word, trailing punctuation."""
    tokens = []
    tail: list[str] = []
    while t.startswith(_PUNCT) and t not in replacements:
        tokens.append(t[0])
        t = t[1:]
    while t.endswith(_PUNCT_DOT) and t not in replacements:
        if t.endswith(_PUNCT):
            tail.append(t[-1])
            t = t[:-1]
        if t.endswith("..."):
            tail.append("...")
            t = t[:-3].rstrip(".")
        if t.endswith("."):
            if (
                t in ABBREVIATIONS
                or RE_ABBR1.match(t) is not None
                or RE_ABBR2.match(t) is not None
                or RE_ABBR3.match(t) is not None
            ):
                break
            tail.append(t[-1])
            t = t[:-1]
    if t != "":
        tokens.append(t)
    tokens.extend(reversed(tail))
    return tuple(tokens)


class _Tokenizer:
    """``textblob._text.find_tokens`` with its default arguments, the per-chunk split remembered."""

    def __init__(self) -> None:
        self._chunks: dict[str, tuple[str, ...]] = {}

    def __call__(self, string: str) -> list[str]:
        if "'" in string:  # every contraction pattern holds an apostrophe
            for a, b in _REPLACE:
                string = a.sub(b, string)
        string = (
            string.replace("“", " “ ")
            .replace("”", " ” ")
            .replace("‘", " ‘ ")
            .replace("’", " ’ ")
            .replace("'", " ' ")
            .replace('"', ' " ')
        )
        if "\r\n" in string:
            string = re.sub("\r\n", "\n", string)
        if "\n\n" in string:
            string = re.sub(r"\n{2,}", f" {EOS} ", string)
        string = re.sub(r"\s+", " ", string)
        chunks = self._chunks
        if len(chunks) > _MAX_CHUNKS:
            chunks.clear()
        tokens: list[str] = []
        for t in TOKEN.findall(string + " "):
            parts = chunks.get(t)
            if parts is None:
                parts = chunks[t] = _split_chunk(t)
            tokens.extend(parts)
        return _sentences(tokens)


def _sentences(tokens: list[str]) -> list[str]:
    """The library's sentence loop of ``find_tokens``, unchanged."""
    sentences: list[list[str]] = [[]]
    i, j = 0, 0
    while j < len(tokens):
        if tokens[j] in _SENTENCE_END:
            while j < len(tokens) and tokens[j] in _SENTENCE_TAIL:
                if tokens[j] in ("'", '"') and sentences[-1].count(tokens[j]) % 2 == 0:
                    break
                j += 1
            sentences[-1].extend(t for t in tokens[i:j] if t != EOS)
            sentences.append([])
            i = j
        j += 1
    sentences[-1].extend(tokens[i:j])
    joined = (" ".join(s) for s in sentences if len(s) > 0)
    joined = (RE_SARCASM.sub("(!)", s) for s in joined)
    return [RE_EMOTICONS.sub(lambda m: m.group(1).replace(" ", "") + m.group(2), s) for s in joined]


def _assessments(self, words=None, negation=True):  # type: ignore[no-untyped-def]
    """The library's ``Sentiment.assessments``, statement for statement; only the emoticon test looks the
    word up in ``_EMOTICON_POLARITY`` instead of scanning every EMOTICONS set."""
    if words is None:
        words = []
    a = []
    m = None
    n = None
    modifiers = self.modifiers
    negations = self.negations
    labeler = self.labeler
    for w, pos in words:
        if w is None:
            continue
        entry = self.get(w)
        if entry is not None and pos in entry:
            p, s, i = entry[pos]
            if m is None:
                a.append(dict(w=[w], p=p, s=s, i=i, n=1, x=labeler.get(w)))
            if m is not None:
                a[-1]["w"].append(w)
                a[-1]["p"] = max(-1.0, min(p * a[-1]["i"], +1.0))
                a[-1]["s"] = max(-1.0, min(s * a[-1]["i"], +1.0))
                a[-1]["i"] = i
                a[-1]["x"] = labeler.get(w)
            if n is not None:
                a[-1]["w"].insert(0, n)
                a[-1]["i"] = 1.0 / a[-1]["i"]
                a[-1]["n"] = -1
            m = None
            n = None
            if pos and pos in modifiers or any(map(entry.__contains__, modifiers)):
                m = (w, pos)
            if negation and w in negations:
                n = w
        else:
            if negation and w in negations:
                n = w
            elif n and len(w.strip("'")) > 1:
                n = None
            if n is not None and m is not None and (pos in modifiers or self.modifier(m[0])):
                a[-1]["w"].append(n)
                a[-1]["n"] = -1
                n = None
            elif m and len(w) > 2:
                m = None
            if w == "!" and len(a) > 0:
                a[-1]["w"].append("!")
                a[-1]["p"] = max(-1.0, min(a[-1]["p"] * 1.25, +1.0))
            if w == "(!)":
                a.append(dict(w=[w], p=0.0, s=1.0, i=1.0, n=1, x=IRONY))
            if w.isalpha() is False and len(w) <= 5 and w not in PUNCTUATION:
                p = _EMOTICON_POLARITY.get(w)
                if p is not None:
                    a.append(dict(w=[w], p=p, s=1.0, i=1.0, n=1, x=MOOD))
    # "not good" = slightly bad, "not bad" = slightly good
    return [(d["w"], d["p"] * -0.5 if d["n"] < 0 else d["p"], d["s"], d["x"]) for d in a]


def fast_pattern_sentiment() -> Any:
    """A copy of ``textblob.en.sentiment`` (loaded) with plain dict lookups and the remembering tokenizer.

    Calling it on a string returns what ``textblob.en.sentiment`` returns."""
    from textblob.en import sentiment

    sentiment("good")  # loads the lexicon
    cls = type(sentiment)
    fast_cls = type(
        "FastSentiment",
        (cls,),
        {
            "__contains__": dict.__contains__,
            "__getitem__": dict.__getitem__,
            "__len__": dict.__len__,
            "__iter__": dict.__iter__,
            "get": dict.get,
            "assessments": _assessments,
        },
    )
    fast = dict.__new__(fast_cls)
    dict.update(fast, dict.items(sentiment))
    fast.__dict__.update({k: v for k, v in vars(sentiment).items() if not k.startswith("__")})
    fast.tokenizer = _Tokenizer()
    return fast
