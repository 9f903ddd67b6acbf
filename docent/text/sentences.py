"""Sentence splitting with NLTK's Punkt, trained on the corpus itself: no download, no network.

Punkt learns abbreviations, collocations and sentence starters from raw text without labels.
A few hundred sentences are too few for it to learn every abbreviation, so common ones are
added to what it learns ("U.S.", "c. 1400", "St.", "r. 1428-1433", single initials as in
"John F. Kennedy"). Training is deterministic: the same text gives the same parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

# Lower case, final period dropped: Punkt's own spelling of an abbreviation type.
COMMON_ABBREVIATIONS = frozenset({
    "u.s", "u.k", "u.n", "u.s.s.r", "e.g", "i.e", "a.k.a", "cf", "vs", "viz", "approx", "est", "ca", "c",
    "fl", "r", "b", "d", "st", "mt", "ft", "dr", "mr", "mrs", "ms", "jr", "sr", "prof", "gen", "lt",
    "col", "capt", "sgt", "maj", "adm", "gov", "sen", "rep", "rev", "hon", "pres", "no", "nos", "vol",
    "pp", "inc", "ltd", "corp", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", *"abcdefghijklmnopqrstuvwxyz",
})


def train_punkt(paragraphs: Iterable[str]) -> tuple[PunktSentenceTokenizer, int]:
    """A Punkt tokenizer trained on `paragraphs`, and how many abbreviations it learnt itself."""
    trainer = PunktTrainer()
    trainer.train("\n\n".join(paragraphs), finalize=True)
    learned: PunktParameters = trainer.get_params()
    # A few hundred sentences are too few for Punkt's statistics: a word that ends sentences
    # ("40,000 years ago.") can score as an abbreviation, and "in 1945. He" as a collocation
    # (a number before a word that never starts a sentence). Keep only learned abbreviations
    # that are dotted ("u.s") or single initials, and no collocation after a number: a number
    # ending a sentence is common in history text ("... in 1945."), an ordinal "5." is not English.
    kept = {abbr for abbr in learned.abbrev_types if "." in abbr or len(abbr) == 1}
    learned.abbrev_types = kept | COMMON_ABBREVIATIONS
    learned.collocations = {pair for pair in learned.collocations if pair[0] != "##number##"}
    return PunktSentenceTokenizer(learned), len(kept - COMMON_ABBREVIATIONS)


def split_sentences(tokenizer: PunktSentenceTokenizer, paragraph: str) -> list[str]:
    """Sentences of one paragraph (never across paragraphs), stripped."""
    return [s.strip() for s in tokenizer.tokenize(paragraph) if s.strip()]


_EDGE_PUNCTUATION = "\"'“”‘’()[],.;:!?"


def _prose_word(token: str) -> bool:
    word = token.strip(_EDGE_PUNCTUATION).replace("-", "")
    return word.isalpha() and (word.islower() or (word[0].isupper() and word[1:].islower())
                               or (word.isupper() and len(word) <= 6))


def prose_share(text: str) -> float:
    """The share of a split sentence's words spelt as prose spells words: lowercase, Capitalised,
    or a short ACRONYM ("UNESCO"); low for a table row, a listing or markup (`clean.min_prose_share`)."""
    tokens = text.split()
    return sum(map(_prose_word, tokens)) / len(tokens) if tokens else 0.0
