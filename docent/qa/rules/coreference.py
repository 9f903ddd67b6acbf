"""Pronouns resolved to the document's entity: a sentence that opens on "He/She/It/They" (or
"His/Its/Their") is rewritten with the document's own name for its subject (the subject of its
first sentence) when number and person agree, so that its answer stands alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docent.qa.grounding import normalize_text
from docent.qa.rules.lexicon import PRONOUN_KIND, SUBJECT_DEPS
from docent.qa.rules.parsing import is_person, is_plural, np_tokens, render, subject_of

if TYPE_CHECKING:
    from spacy.tokens import Doc


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


def title_entity(title: str, kinds: dict[str, str]) -> tuple[str, str] | None:
    """The document's title as its name when its first sentence gives none (a misparse, or a page
    that opens on a list): "Mainland Southeast Asia" for its "It comprises ...". Only a short name
    (a heading like "venv — Creation of virtual environments" names no one thing)."""
    name = title.strip()
    if not name or len(name.split()) > 5 or any(c in name for c in "—–:;,()"):
        return None
    # a name as an encyclopedia titles its article ("Mainland Southeast Asia", "Black hole"); a
    # file's name ("shared mime info spec") is not what its "It" refers to
    if not name[:1].isupper():
        return None
    return name, "person" if kinds.get(normalize_text(name)) == "person" else "thing"


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
