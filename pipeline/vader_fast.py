"""SentimentIntensityAnalyzer (vaderSentiment 3.3.2) without its avoidable work, same results.

* The library walks every character and rebuilds the string to replace emoji by their descriptions; for a text
  with none of the lexicon's emoji the rebuild returns the text itself, so it is skipped.
* The library lower-cases words again and again (``_negation_check``, ``_special_idioms_check`` and ``_but_check``
  lower-case the whole word list on every call, which makes it quadratic in the length of a text); here the list
  is lower-cased once per text and the rule functions read it.
* Boosters, "kind of" and words outside the lexicon get valence 0 in the library after checks that all start
  from a lexicon hit; here they get 0 directly. The "but" rule runs only when the text holds "but" (it changes
  nothing otherwise). Each word's punctuation strip (``SentiText._strip_punc_if_word``) is remembered per word.

The rule bodies below keep the library's statements and names, so a diff against vaderSentiment 3.3.2 stays
readable; scoring and the emoji lexicon are inherited. ``pipeline.scoring`` uses this class only when the
installed vaderSentiment is that release; ``tests/unit/test_affect.py`` checks equal scores.
"""

from __future__ import annotations

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    SentiText,
    allcap_differential,
    scalar_inc_dec,
)

_NEGATE = frozenset(NEGATE)
_MAX_WORDS = 200_000


class FastSentimentIntensityAnalyzer(SentimentIntensityAnalyzer):
    def __init__(self) -> None:
        super().__init__()
        # polarity_scores only looks emoji up one character at a time
        self._emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)
        self._stripped: dict[str, str] = {}

    def _replace_emoji(self, text: str) -> str:
        """The library's emoji pass, unchanged (only run when the text holds one of the lexicon's emoji)."""
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
        return text_no_emoji.strip()

    def _split(self, text: str) -> list[str]:
        """``SentiText(text).words_and_emoticons``: whitespace split, each word's punctuation stripped
        (remembered per distinct word: the result depends on the word alone)."""
        memo = self._stripped
        if len(memo) > _MAX_WORDS:
            memo.clear()
        out = []
        for w in text.split():
            s = memo.get(w)
            if s is None:
                s = memo[w] = SentiText._strip_punc_if_word(w)
            out.append(s)
        return out

    def polarity_scores(self, text: str) -> dict[str, float]:
        text = text.strip() if self._emoji_chars.isdisjoint(text) else self._replace_emoji(text)
        words = self._split(text)
        lower = [w.lower() for w in words]
        is_cap_diff = allcap_differential(words)
        lexicon = self.lexicon
        last = len(words) - 1
        sentiments: list[float] = []
        for i, item_lowercase in enumerate(lower):
            # booster words, "kind of" and words outside the lexicon all get valence 0 (the int, as in the
            # library); sentiment_valence does nothing else for them
            if (
                item_lowercase in BOOSTER_DICT
                or (i < last and item_lowercase == "kind" and lower[i + 1] == "of")
                or item_lowercase not in lexicon
            ):
                sentiments.append(0)
                continue
            sentiments.append(self._valence(words, lower, is_cap_diff, i))
        if "but" in lower:
            sentiments = self._but_check(words, sentiments)
        return self.score_valence(sentiments, text)

    def _valence(self, words: list[str], lower: list[str], is_cap_diff: bool, i: int) -> float:
        """The library's ``sentiment_valence`` for a lexicon word, reading the lower-cased words once."""
        lexicon = self.lexicon
        item_lowercase = lower[i]
        valence = lexicon[item_lowercase]
        if item_lowercase == "no" and i != len(words) - 1 and lower[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lower[i - 1] == "no")
            or (i > 1 and lower[i - 2] == "no")
            or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ["or", "nor"])
        ):
            valence = lexicon[item_lowercase] * N_SCALAR
        if words[i].isupper() and is_cap_diff:
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR
        for start_i in range(0, 3):
            if i > start_i and lower[i - (start_i + 1)] not in lexicon:
                j = i - (start_i + 1)
                # scalar_inc_dec is 0.0 unless the word is a booster
                s = scalar_inc_dec(words[j], valence, is_cap_diff) if lower[j] in BOOSTER_DICT else 0.0
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                valence = _negation_check(valence, lower, start_i, i)
                if start_i == 2:
                    valence = _special_idioms_check(valence, lower, i)
        return _least_check(valence, lower, i, lexicon)


def _negated(word_lower: str) -> bool:
    """``negated([word])`` for one lower-cased word."""
    return word_lower in _NEGATE or "n't" in word_lower


def _least_check(valence: float, lower: list[str], i: int, lexicon: dict) -> float:
    """The library's ``_least_check`` on the lower-cased words."""
    if i > 1 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
        if lower[i - 2] != "at" and lower[i - 2] != "very":
            valence = valence * N_SCALAR
    elif i > 0 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
        valence = valence * N_SCALAR
    return valence


def _special_idioms_check(valence: float, w: list[str], i: int) -> float:
    """The library's ``_special_idioms_check`` on the lower-cased words."""
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


def _negation_check(valence: float, w: list[str], start_i: int, i: int) -> float:
    """The library's ``_negation_check`` on the lower-cased words."""
    if start_i == 0:
        if _negated(w[i - (start_i + 1)]):
            valence = valence * N_SCALAR
    if start_i == 1:
        if w[i - 2] == "never" and (w[i - 1] == "so" or w[i - 1] == "this"):
            valence = valence * 1.25
        elif w[i - 2] == "without" and w[i - 1] == "doubt":
            valence = valence
        elif _negated(w[i - (start_i + 1)]):
            valence = valence * N_SCALAR
    if start_i == 2:
        if (
            w[i - 3] == "never"
            and (w[i - 2] == "so" or w[i - 2] == "this")
            or (w[i - 1] == "so" or w[i - 1] == "this")
        ):
            valence = valence * 1.25
        elif w[i - 3] == "without" and (w[i - 2] == "doubt" or w[i - 1] == "doubt"):
            valence = valence
        elif _negated(w[i - (start_i + 1)]):
            valence = valence * N_SCALAR
    return valence
