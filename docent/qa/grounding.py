"""Checks every generated pair passes, whatever generator made it.

A pair is kept only if the question reads as a question, the answer reads as a complete,
short sentence, and the answer is grounded in its source text. Each check returns a reason
string (which the stage counts in metrics/qa.json) or None when the text is fine.
"""

from __future__ import annotations

import re
import unicodedata

# A wh-word first, or after one preposition ("In what year", "By whom", "For how many years").
_WH_OPENING = re.compile(r"^(?:[A-Za-z]+ )?(?:who|whom|what|when|where|which|how|why)\b", re.IGNORECASE)
# Pronouns that point outside the question: "When did it begin?" cannot be answered without the
# passage. "his"/"her" are allowed only where the wh-word is their referent (`allow_possessive`).
UNRESOLVED_PRONOUNS = frozenset({"he", "him", "she", "it", "its", "they", "them", "their", "theirs",
                                 "this", "these", "those", "itself", "themselves"})
POSSESSIVE_PRONOUNS = frozenset({"his", "her", "hers", "himself", "herself"})
# A question that ends on one of these was cut mid-phrase.
DANGLING_ENDS = frozenset({"the", "a", "an", "and", "or", "of", "to", "with", "as", "its", "his", "her",
                           "their", "but", "which", "that", "who", "whose", "than", "from", "into", "is",
                           "was", "were", "are", "by", "for", "on", "at", "in", "while", "whereas"})
# The prepositions a question may end on when it strands one on purpose.
# "of" only after the verbs that take it (lexicon.OF_VERBS): "What does Earth's crust consist of?"
STRANDABLE = frozenset({"to", "with", "from", "into", "for", "on", "at", "in", "of"})
STOPWORDS = frozenset(
    [
        "a", "an", "the", "of", "and", "or", "but", "in", "on", "at", "to", "for", "from", "by", "with", "as", "is",
        "was", "were", "are", "be", "been", "being", "it", "its", "this", "that", "these", "those", "he", "she", "they",
        "his", "her", "their", "them", "which", "who", "whom", "what", "when", "where", "how", "did", "do", "does",
        "has", "have", "had", "not", "no", "so", "than", "then", "there", "into", "onto", "about", "also"
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)
QUANTIFIERS = frozenset({"most", "many", "some", "much", "all", "none", "half", "part", "several", "few", "each",
                         "both", "either", "neither", "one", "another", "other", "others"})
_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"))


def normalize_text(text: str) -> str:
    """Canonical form for duplicate detection: NFC, casefolded, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


def content_tokens(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS]


def token_overlap(answer: str, passage: str) -> float:
    """Share of the answer's content tokens that occur in the passage (1.0 = every token grounded).

    An answer with no content tokens ("It was.") scores 0: it says nothing checkable.
    """
    tokens = content_tokens(answer)
    if not tokens:
        return 0.0
    vocabulary = set(words(passage))
    return sum(t in vocabulary for t in tokens) / len(tokens)


def _balanced(text: str) -> bool:
    for opening, closing in _PAIRS:
        depth = 0
        for ch in text:
            if ch == opening:
                depth += 1
            elif ch == closing:
                depth -= 1
                if depth < 0:
                    return False
        if depth:
            return False
    return text.count('"') % 2 == 0 and text.count("“") == text.count("”")


def _broken_punctuation(text: str) -> bool:
    return bool(re.search(r"\s[,;:.?!]|[,;:]\s*[,;:.?!]|,,|\(\s*\)|^\W|\s{2,}|[\n\r\t]", text))


# A question without a name, number, code word or topic word is specific when it has this many
# content words (stopwords aside).
SPECIFIC_CONTENT_WORDS = 5
# Code-like words name a specific thing as well as a capital does: `os.path.join`, `pip_install`, `main()`,
# `application/octet-stream`, `image/svg+xml`.
_TERM_OPENING = re.compile(r"^(?:class |function |method )?[\w.\-]+(?:\([^()]*\))?(?::| [-–]) ")
_CODE_WORD = re.compile(r"\w[._/+]\w|\(\)|^-{1,2}\w")


# "such effects", "such icon names" point back at an earlier sentence ("such as methane" does not)
_SUCH_REFERENCE = re.compile(r"\bsuch (?!as\b)(?:\w+ )*?\w+\b(?! as\b)", re.IGNORECASE)


Topic = tuple[frozenset[str], ...]  # groups of words; a question holding every word of one is anchored


def topic_words(title: str, section: str = "") -> Topic:
    """What names a document's topic: its whole title ("What is napalm?" in "Napalm"; "dynasty"
    alone does not name the "Trần dynasty"), or any word of the heading the sentence is under
    ("How do I install a package?" under "Virtual Environments and Packages")."""
    def usable(text: str) -> list[str]:
        return [w for w in content_tokens(text) if len(w) >= 3 and not w.isdigit()]

    groups = [frozenset(usable(title))]
    heading = usable(section.rsplit(">", 1)[-1])
    # a plural heading word anchors its singular too
    groups += [frozenset({w}) for w in sorted({*heading, *(w[:-1] for w in heading if w.endswith("s") and len(w) > 4)})]
    return tuple(g for g in groups if g)


def question_problem(question: str, allow_possessive: bool = False, max_words: int = 30,
                     topic: Topic = (), stranded: bool = False) -> str | None:
    """Why this question is not kept, or None if it reads as a well-formed, self-contained question.

    `topic`: the source document's title and heading words (`topic_words`); a question naming the
    document's topic has something specific to ask about even without a capital or a number.
    `stranded`: the question was built to end on its preposition ("What is X noted for?"), so a
    preposition there is no sign of a cut-off question."""
    q = question.strip()
    n_words = len(q.split())
    if n_words < 3:
        return "question_too_short"
    if n_words > max_words:
        return "question_too_long"
    if not _WH_OPENING.match(q) or not q.endswith("?") or q.count("?") != 1:
        return "question_ungrammatical"
    if not _balanced(q) or _broken_punctuation(q):
        return "question_ungrammatical"
    tokens = words(q)
    if tokens and tokens[-1] in DANGLING_ENDS and not (stranded and tokens[-1] in STRANDABLE):
        return "question_ungrammatical"
    blocked = UNRESOLVED_PRONOUNS if allow_possessive else UNRESOLVED_PRONOUNS | POSSESSIVE_PRONOUNS
    if any(t in blocked for t in tokens) or _SUCH_REFERENCE.search(q):
        return "question_unresolved_pronoun"
    # Something specific to ask about: a name (capitalised word after the first), a number, a code
    # word, the document's topic, or enough content words to pin one fact down ("What is thought to
    # serve as gravitational scaffolding for cosmic structures?"; "What did the empires introduce?"
    # has two and could be asked of any empire).
    rest = q.split()[1:]
    asked = set(tokens[1:])
    asked |= {t[:-1] for t in asked if t.endswith("s") and len(t) > 4}  # "neutron stars" names "Neutron star"
    if not any(w[:1].isupper() or any(c.isdigit() for c in w) or _CODE_WORD.search(w) for w in rest) and not any(
            group <= asked for group in topic) and len(content_tokens(q)) < SPECIFIC_CONTENT_WORDS:
        return "question_no_anchor"
    return None


_COPULAR_QUESTION = re.compile(r"^(?:what|who|which) (?:is|was|are|were) (.+)$")


def copular_complement(question: str) -> str | None:
    """The X of "What/Who/Which is/was/are/were X?", normalised (`normalize_text`), or None."""
    match = _COPULAR_QUESTION.match(normalize_text(question))
    return match.group(1) if match else None


# "What is a country in Mainland Southeast Asia?" asks for any member of a class (Cambodia, Laos, ...),
# so a right answer can be scored wrong; a description this short names no one thing.
IDENTIFYING_CONTENT_WORDS = 6
_RELATIVE_WORDS = frozenset({"who", "whom", "whose", "that", "which"})


def description_problem(question: str) -> str | None:
    """Why a question asking who or what fits an indefinite description cannot have one answer, or None.

    Measured on the default, astronomy and python-docs domains: 34 of 73 such questions had fewer than
    6 content words, no number and no relative clause ("Who was a German polymath?", "What is an
    Austroasiatic language?"); those with more, a number or a relative clause mostly pin one down ("What is a
    luminous giant star of low or intermediate mass?", "What is a gas giant, with an average radius
    of about 9 times that of Earth?")."""
    article, _, description = (copular_complement(question) or "").partition(" ")
    if article not in ("a", "an") or any(c.isdigit() for c in description) or _RELATIVE_WORDS & set(
            description.split()):
        return None
    return "question_not_identifying" if len(content_tokens(description)) < IDENTIFYING_CONTENT_WORDS else None


def answer_problem(answer: str, max_words: int) -> str | None:
    """Why this answer is not kept, or None if it is a complete, short, standalone sentence."""
    a = answer.strip()
    n_words = len(a.split())
    if n_words > max_words:
        return "answer_too_long"
    if n_words < 4:
        return "answer_too_short"
    # a documented term's sentence opens on the term as the page wrote it ("venv.create(...): Create
    # an EnvBuilder ..."): the sentence after it is what must read as one
    opening = _TERM_OPENING.match(a)
    sentence = a[opening.end():] if opening else a
    # ... and a sentence may open on a command or a name in code, which keeps its case
    # ("update-mime-database is passed the mime directory ...", "python -m pip list will display ...")
    first_word = sentence.split(" ", 1)[0]
    code_opening = bool(_CODE_WORD.search(first_word)) or "-" in first_word.strip("-") or first_word == "python"
    # a term's description may open in lower case, as parameter lists write it ("symlinks – a
    # Boolean value indicating whether to attempt to symlink the Python binary rather than copying.")
    described = opening is not None and sentence[:1].isalpha()
    if not (sentence[:1].isupper() or sentence[:1].isdigit() or code_opening or described) or a[-1:] not in ".!?":
        return "answer_ungrammatical"
    # (after the term: "--clear: Delete the contents ..." opens on its option's dashes)
    if not _balanced(a) or _broken_punctuation(sentence):
        return "answer_ungrammatical"
    first = words(a)[:1]
    if first and first[0] in UNRESOLVED_PRONOUNS | POSSESSIVE_PRONOUNS:
        return "answer_unresolved_pronoun"
    return None


def question_type(question: str) -> str:
    """who/what/when/where/which/how_many/how/why/other from the question's wh-word."""
    tokens = words(question)
    for k, token in enumerate(tokens[:3]):
        if token in ("who", "whom"):
            return "who"
        if token == "how":
            return "how_many" if tokens[k + 1:k + 2] in (["many"], ["much"]) else "how"
        if token in ("what", "when", "where", "which", "why"):
            return token
    return "other"


def short_answer_problem(short_answer: str, question: str, answer: str) -> str | None:
    """Why a pair's short answer cannot score answers, or None: it must be stated by the answer and
    not by the question (else repeating the question would count as knowing the fact)."""
    from docent.text.normalize import fact_terms, states_fact

    terms = fact_terms(short_answer)
    if not terms:
        return "short_answer_empty"
    # one common word ("city", "period") is in many answers: it cannot tell right from wrong; nor can
    # a quantifier that opened the sentence ("Most of the planet is made of water" -> "Most")
    if len(terms) == 1 and terms[0].isalpha() and (short_answer.islower() or terms[0] in QUANTIFIERS):
        return "short_answer_vague"
    if len(terms) > 8:
        return "short_answer_too_long"  # a clause, not the span asked for (a misparse)
    if not states_fact(answer, short_answer):
        return "short_answer_not_in_answer"
    # accents kept here: "Huế" is not given away by a question about "Nguyễn Huệ"
    if set(normalize_text(short_answer).split()) <= set(normalize_text(question).split()):
        return "short_answer_in_question"
    return None
