"""References to the document's entity resolved, so that an answer stands alone: a sentence whose
subject is "He/She/It/They" (or that opens on "His/Its/Their") is rewritten with the document's own
name for its subject (the subject of its first sentence) when number and person agree, and a
definite description of it ("the river" in "Mekong", "this module" in a module's page) is replaced
by that name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docent.qa.grounding import normalize_text
from docent.qa.rules.lexicon import PRONOUN_KIND, SUBJECT_DEPS
from docent.qa.rules.parsing import attribute_is_person, is_person, is_plural, np_tokens, render, subject_of

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token


def doc_entity(doc: Doc, kinds: dict[str, str]) -> tuple[str, str] | None:
    """The document's own name for its subject (first sentence's subject) and its kind for pronouns."""
    for sent in doc.sents:
        subject, own = subject_of(sent.root)
        if subject is None or not own or subject.pos_ == "PRON":
            return None
        tokens = np_tokens(subject)
        # "The Mekong or Mekong River": the first name is the one later sentences mean
        alias = [c.i for c in subject.children if c.dep_ == "cc" and c.lower_ == "or"]
        text = render(t for t in tokens if not alias or t.i < alias[0])
        if not text or len(text.split()) > 8:
            return None
        attributes = [c for c in sent.root.children if c.dep_ == "attr" and c.pos_ == "NOUN"]
        if is_plural(subject):
            kind = "plural"
        elif sent.root.lemma_ == "be" and attributes and normalize_text(text) not in kinds:
            # "The Mekong ... is a transboundary river": what it is decides "it", not NER's PERSON
            kind = "person" if attribute_is_person(attributes[0]) else "thing"
        elif is_person(subject, kinds):
            kind = "person"
        else:
            kind = "thing"
        return text, kind
    return None


def reference_page_entity(title: str, first: Doc) -> tuple[str, str] | None:
    """A reference page titled "name — what it is" (Sphinx's module pages: "venv — Creation of
    virtual environments") is about `name`; its first sentence calls it "the venv module" when it
    says what kind of thing it is."""
    name, dash, _ = title.partition(" — ")
    name = name.strip()
    if not dash or not name or len(name.split()) > 2:
        return None
    for tok in first[:-2]:
        follow = first[tok.i + 2]
        if tok.lower_ == "the" and first[tok.i + 1].text == name and follow.pos_ == "NOUN" and follow.tag_ == "NN":
            return f"The {name} {follow.text}", "thing"
    return name, "thing"


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


def _describable(doc: Doc, name: str) -> bool:
    """Whether "the <noun>" in this sentence may stand for the named entity: not on a page about a
    kind of thing ("A galaxy is ..." calls particular ones "the galaxy"), and not in a sentence that
    names the entity already."""
    return (name.split()[0].lower() not in ("a", "an") and name[:1].isupper()
            and normalize_text(name) not in normalize_text(doc.text))


def _first_sentence(doc: Doc) -> Span | None:
    return next(iter(doc.sents), None)


def _placed(name: str, at_start: bool) -> str:
    """The entity's name as it reads where it replaces a word: capitalised at the sentence start,
    "the Mekong" (not "The Mekong") inside it."""
    if at_start:
        return name[:1].upper() + name[1:]
    return "the " + name[4:] if name.startswith("The ") else name


def category_nouns(doc: Doc, title: str, entity: tuple[str, str] | None = None) -> frozenset[str]:
    """The common nouns a document calls its own subject by: the head of the name in its first
    sentence or of the entity's name ("The venv module" -> module), of what that sentence says it
    is ("is a transboundary river" -> river) and the last word of its title ("Trần dynasty" ->
    dynasty)."""
    nouns: set[str] = set()
    if entity is not None:
        # "The Gulf of Thailand" -> gulf, "Ho Chi Minh City" -> city, "The venv module" -> module
        nouns.update(w.lower() for w in entity[0].split() if w.isalpha() and len(w) >= 4)
    sent = _first_sentence(doc)
    if sent is not None:
        subject, own = subject_of(sent.root)
        if subject is not None and own and subject.pos_ == "NOUN" and not is_plural(subject):
            nouns.add(subject.lemma_.lower())
        attributes = [c for c in sent.root.children if c.dep_ == "attr"]
        # only a kind ("a transboundary river"), not a relation to something else ("the collapsed
        # core of a star": "the core" there is the star's, not the star)
        if (sent.root.lemma_ == "be" and attributes and attributes[0].pos_ == "NOUN" and attributes[0].tag_ == "NN"
                and not any(c.dep_ == "prep" and c.lower_ == "of" for c in attributes[0].children)):
            nouns.add(attributes[0].lemma_.lower())
    words = title.partition(" — ")[0].split()
    if len(words) > 1 and words[-1].isalpha():
        nouns.add(words[-1].lower())  # "Vietnam War" -> war, "Solar System" -> system
    return frozenset(nouns)


def description_edits(doc: Doc, name: str, categories: frozenset[str]) -> list[tuple[int, int, str]]:
    """(start, end, name) character edits for each "the/this <category noun>" that can only be the
    document's entity: singular, no modifier of its own ("the first dynasty" is another one), no
    name beside it ("the river Seine"). `resolve_references` asks only where `_describable`."""
    edits = []
    for tok in doc:
        if tok.pos_ != "NOUN" or tok.tag_ != "NN" or tok.lower_ not in categories:
            continue
        before = [c for c in tok.children if c.i < tok.i]
        after = [c for c in tok.children if c.i > tok.i and c.dep_ in ("appos", "compound", "nmod", "flat")]
        next_word = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        if (len(before) != 1 or before[0].dep_ != "det" or before[0].lower_ not in ("the", "this")
                or before[0].i != tok.i - 1 or after or (next_word is not None and next_word.pos_ == "PROPN")):
            continue
        # "the dynasty" -> "the Qing dynasty", not "Qing dynasty"
        full = f"The {name}" if not name.lower().startswith("the ") and name.split()[-1].islower() else name
        edits.append((before[0].idx, tok.idx + len(tok.text), _placed(full, before[0].i == 0)))
    return edits


# nouns about the words, not the thing: "The name is a portmanteau ..." is no part of Napalm
_WORD_NOUNS = frozenset({"name", "word", "term", "title", "phrase", "spelling"})


def lead_nouns(doc: Doc) -> frozenset[str]:
    """The common nouns of a document's first sentence: what it says its subject is ("Vientiane is
    the capital and largest city of Laos"), so that "the city" later is the thing itself, not a part."""
    sent = _first_sentence(doc)
    return frozenset(t.lemma_.lower() for t in sent if t.pos_ == "NOUN") if sent is not None else frozenset()


def part_edit(doc: Doc, name: str, kind: str, lead: frozenset[str] = frozenset()) -> list[tuple[int, int, str]]:
    """A sentence that opens on "The <noun>" as its subject, in a page about one named thing, speaks of
    a part or property of that thing: "The atmosphere is composed mostly of carbon dioxide" in
    "Venus" -> "Venus's atmosphere ...". Not for a person ("The war ended" in a statesman's page is
    not his war), nor for a page about a kind of thing ("A comet ...": "the coma" of any comet)."""
    words = name.split()
    # a short name, not a description ("The influence and imperialism of the West")
    if kind == "person" or len(doc) < 3 or len(words) > 4 or any(w in ("and", "or", "of") for w in words):
        return []
    det, noun = doc[0], doc[1]
    if (det.lower_ != "the" or det.head != noun or noun.pos_ != "NOUN" or noun.dep_ not in ("nsubj", "nsubjpass")
            or noun.head.dep_ != "ROOT" or doc[2].pos_ in ("PROPN", "NOUN", "ADJ", "NUM")
            or any(c.dep_ == "prep" for c in noun.children) or noun.lemma_.lower() in _WORD_NOUNS | lead):
        return []
    owner = _placed(name, at_start=True)
    return [(det.idx, det.idx + len(det.text), owner + ("'" if owner.endswith("s") else "'s"))]


def resolve_references(doc: Doc, entity: tuple[str, str] | None, categories: frozenset[str],
                       lead: frozenset[str] = frozenset()) -> str | None:
    """The sentence with its pronoun subject and its definite descriptions of the document's entity
    replaced by the entity's name, or None when there is nothing to replace. `categories`:
    `category_nouns`; `lead`: `lead_nouns` of the document's first sentence."""
    if entity is None:
        return None
    pronoun = resolve_pronoun(doc, entity)
    text = pronoun if pronoun is not None else doc.text
    # a rewritten pronoun shifts the offsets: descriptions are only replaced in an unchanged sentence;
    # the entity itself named by a description first, else a part of it
    edits = [] if pronoun is not None or not _describable(doc, entity[0]) else (
        description_edits(doc, entity[0], categories) or part_edit(doc, entity[0], entity[1], lead))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text if text != doc.text else None


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
    if target.lower_ == "it" and (_expletive(target) or _nearer_antecedent(target)):
        return None
    replacement = _placed(replacement, target.i == 0)
    start = target.idx
    return doc.text[:start] + replacement + doc.text[start + len(target.text):]


def _expletive(pronoun: Token) -> bool:
    """"It is sufficient to check ...", "it may be required to enable ...", "it is said that ...":
    an "it" that stands for the clause after it, not for anything named before."""
    verb = pronoun.head
    holders = [verb] + [c for c in verb.children if c.dep_ in ("acomp", "attr")]
    return any((c.dep_ in ("xcomp", "ccomp", "csubj") or (c.dep_ == "advcl" and any(
        a.dep_ == "aux" and a.lower_ == "to" for a in c.children))) and c.i > pronoun.i and (
        verb.lemma_ == "be" or any(a.dep_ == "auxpass" for a in verb.children))
        for holder in holders for c in holder.children)


def _nearer_antecedent(pronoun: Token) -> bool:
    """"If an existing directory is specified, it will be re-used": a clause before the pronoun that
    names a thing of its own offers a nearer antecedent than the document's entity."""
    return any(c.dep_ == "advcl" and c.i < pronoun.i and any(
        s.dep_ in ("nsubj", "nsubjpass") and s.pos_ in ("NOUN", "PROPN") for s in c.children)
        for c in pronoun.head.children)


def with_source_wording(source: str, resolved: str) -> str:
    """The source sentence with only the references `resolved` named: "It covers an area of 3,358.6
    km2 (1,296.8 mi2)." and "Hanoi covers an area of 3,358.6 km2." -> "Hanoi covers an area of
    3,358.6 km2 (1,296.8 mi2).".

    `resolved` is the sentence as the generator answers with it: tidied (brackets and their
    contents dropped, `parsing.tidy`) and then its references named. A passage must keep every
    fact of its source, so of the differences only the short replacements and insertions of words
    (a pronoun or a description by a name, "It" -> "Hanoi", "the empire's" -> "the Khmer
    Empire's") are taken; what tidying dropped stays."""
    import difflib

    before, after = source.split(), resolved.split()
    words: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        named = (op == "replace" and i2 - i1 <= 3 and j2 - j1 <= 6
                 and not any(ch in "()[]0123456789" for w in before[i1:i2] for ch in w))
        if named or (op == "insert" and j2 - j1 <= 4):
            words += after[j1:j2]
        else:
            words += before[i1:i2]
    return " ".join(words)
