"""SentimentIntensityAnalyzer (vaderSentiment 3.3.2) without its avoidable work, same results.

* The library walks every character and rebuilds the string to replace emoji by their descriptions; for a text
  with none of the lexicon's emoji the rebuild returns the text itself, so it is skipped.
* ``_negation_check`` and ``_special_idioms_check`` lower-case the whole word list on every call, which makes the
  library quadratic in the length of a text; here that list is lower-cased once per text.

Everything else is the library's code, copied line for line (the bodies below keep the library's statements and
names, so a diff against vaderSentiment 3.3.2 stays readable) or inherited. ``pipeline.scoring`` uses this class
only when the installed vaderSentiment is that release; ``tests/unit/test_affect.py`` checks equal scores.
"""

from __future__ import annotations

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

    def polarity_scores(self, text: str) -> dict[str, float]:
        text = text.strip() if self._emoji_chars.isdisjoint(text) else self._replace_emoji(text)
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
                words_and_emoticons_lower[i - 2] == "without" and words_and_emoticons_lower[i - 1] == "doubt"
            ):
                valence = valence
            elif negated([words_and_emoticons_lower[i - (start_i + 1)]]):
                valence = valence * N_SCALAR
        if start_i == 2:
            if (
                words_and_emoticons_lower[i - 3] == "never"
                and (words_and_emoticons_lower[i - 2] == "so" or words_and_emoticons_lower[i - 2] == "this")
                or (words_and_emoticons_lower[i - 1] == "so" or words_and_emoticons_lower[i - 1] == "this")
            ):
                valence = valence * 1.25
            elif words_and_emoticons_lower[i - 3] == "without" and (
                words_and_emoticons_lower[i - 2] == "doubt" or words_and_emoticons_lower[i - 1] == "doubt"
            ):
                valence = valence
            elif negated([words_and_emoticons_lower[i - (start_i + 1)]]):
                valence = valence * N_SCALAR
        return valence
