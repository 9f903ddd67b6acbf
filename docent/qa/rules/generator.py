"""`RulesGenerator`: sentences -> QA pairs. Every sentence is parsed once (again only where a pronoun
was rewritten); the facts and question forms it proposes go through the selection step every
generator shares (docent/qa/selection.py: checks, dedupe, cap per fact, rejection counts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from docent.qa.records import QAPair, Sentence
from docent.qa.rules.coreference import (
    category_nouns,
    doc_entity,
    lead_nouns,
    reference_page_entity,
    resolve_references,
    title_entity,
    with_source_wording,
)
from docent.qa.rules.parsing import defined_kinds, fix_spacing, tidy
from docent.qa.rules.questions import (
    Fact,
    as_predicate,
    facts_of,
    split_definition,
    term_questions,
    version_note_fact,
)
from docent.qa.selection import Selection

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

GENERATOR = "rules"


class RulesGenerator:
    """sentences -> QA pairs, deterministic for a given spaCy model."""

    def __init__(self, nlp: Language, per_fact: int, max_answer_words: int, min_overlap: float = 1.0,
                 batch_size: int = 256, colloquial: int = 0):
        self.nlp = nlp
        self.per_fact = per_fact
        self.max_answer_words = max_answer_words
        self.min_overlap = min_overlap  # answers are the parsed sentence's own words: they pass any threshold
        self.batch_size = batch_size
        self.colloquial = colloquial
        self.kinds: dict[str, str] = {}
        self.terms: dict[str, str] = {}  # a definition's sentence key -> its term (its description is parsed)
        self.predicates: dict[str, Doc] = {}  # a definition's key -> its description parsed as "It <does ...>"

    def parse(self, sentences: Sequence[Sentence], counts: Counter[str]) -> list[tuple[Sentence, Doc]]:
        prepared = []
        self.terms = {}
        for sentence in sentences:
            text: str | None = tidy(sentence.text)
            if not text:
                counts["rejected_empty_sentence"] += 1
                continue
            # a documented term's sentence: its description is what parses as English
            definition = split_definition(text, sentence.kind)
            if definition is not None and definition[1]:
                self.terms[sentence.key], text = definition
            prepared.append((sentence, text))
        docs = list(self.nlp.pipe((t for _, t in prepared), batch_size=self.batch_size))
        # pronouns: each document's name for itself comes from its first sentence
        first: dict[str, int] = {}  # the first sentence of each document, in file order
        for k, (sentence, _) in enumerate(prepared):
            first.setdefault(sentence.doc_id, k)
        self.kinds = defined_kinds(docs)
        titles = {sentence.doc_id: sentence.title for sentence, _ in prepared}
        entities = {doc_id: doc_entity(docs[k], self.kinds) or reference_page_entity(titles[doc_id], docs[k])
                    or title_entity(titles[doc_id], self.kinds) for doc_id, k in first.items()}
        categories = {doc_id: category_nouns(docs[k], titles[doc_id], entities[doc_id]) for doc_id, k in first.items()}
        leads = {doc_id: lead_nouns(docs[k]) for doc_id, k in first.items()}
        rewritten = {}
        for k, (sentence, _) in enumerate(prepared):
            if sentence.key in self.terms:
                continue  # a description's "It" is its term, which the answer already names
            text = resolve_references(docs[k], entities.get(sentence.doc_id), categories[sentence.doc_id],
                                      leads[sentence.doc_id])
            if text is not None:
                rewritten[k] = text
        for k, doc in zip(rewritten, self.nlp.pipe(rewritten.values(), batch_size=self.batch_size), strict=True):
            docs[k] = doc
        predicates = {sentence.key: p for sentence, text in prepared if sentence.key in self.terms
                      and (p := as_predicate(text)) is not None}
        self.predicates = dict(zip(predicates, self.nlp.pipe(predicates.values(), batch_size=self.batch_size),
                                   strict=True))
        counts["references_resolved"] += len(rewritten)
        return [(sentence, doc) for (sentence, _), doc in zip(prepared, docs, strict=True)]

    def generate(self, sentences: Sequence[Sentence],
                 short_answers: bool = True) -> tuple[list[QAPair], Counter[str]]:
        counts: Counter[str] = Counter()
        parsed = self.parse(sentences, counts)
        selection = Selection(self.per_fact, self.max_answer_words, self.min_overlap, short_answers, counts,
                              colloquial=self.colloquial)
        pairs: list[QAPair] = []
        for sentence, doc in parsed:
            kept_before = len(pairs)
            for fact, passage in self.facts(sentence, doc):
                fact_id = f"{sentence.key}{fact.suffix}"
                for answer, cand in selection.keep([(fact.answer, fact.candidates)], passage, sentence.title,
                                                     sentence.section, sentence.doc_id.partition(":")[0]):
                    pairs.append(QAPair(question=cand.question, answer=answer, short_answer=cand.short,
                                        doc_id=sentence.doc_id,
                                        sent_ids=(sentence.sent_id,), fact_id=fact_id, qtype=cand.qtype,
                                        generator=GENERATOR, variant_of=cand.variant_of))
            if len(pairs) == kept_before:
                counts["sentences_without_question"] += 1
        return pairs, counts

    def facts(self, sentence: Sentence, doc: Doc) -> list[tuple[Fact, str]]:
        """The facts of one parsed sentence and the passage their answers must be grounded in. A
        documented term's description is asked about by its term ("What does venv.create do?") as
        well as by the prose forms, and every answer keeps the term: "venv.create(...): Create ..."."""
        facts = facts_of(doc, self.max_answer_words, self.kinds)
        term = self.terms.get(sentence.key)
        if term is None:
            return [(fact, doc.text) for fact in facts]
        text = sentence.text.strip()
        note = version_note_fact(term, doc.text)
        if note is not None:
            return [(note, text)]
        predicate = self.predicates.get(sentence.key)
        own = tuple(term_questions(term, doc, predicate))
        read_as_verb = predicate is not None and len(predicate) > 1 and predicate[1].dep_ == "ROOT" \
            and predicate[1].pos_ == "VERB"
        if read_as_verb or (doc[:1] and doc[0].pos_ == "VERB"):
            # "Installs activation scripts ...": the subject is the term, which the prose forms cannot see
            facts = []
        named = [Fact(f.suffix, f"{term}: {f.answer}" if f.suffix else text, f.candidates) for f in facts]
        if named and not named[0].suffix:
            named[0] = Fact("", text, own + named[0].candidates)
        elif own:
            named.insert(0, Fact("", text, own))
        return [(fact, text) for fact in named]


def named_references(nlp: Language, sentences: Sequence[Sentence]) -> dict[str, str]:
    """{sentence key: its text with references named} for the sentences whose pronoun or definite
    description the generator resolves ("It hosts 78 foreign embassies ..." -> "Hanoi hosts 78
    foreign embassies ..."), in the source's own wording otherwise (`with_source_wording`). The
    index stage's passages read this way (retrieval.resolve_references): retrieval then finds the
    sentence by its subject's name, and the model reads what the QA answers say."""
    generator = RulesGenerator(nlp, per_fact=1, max_answer_words=1)
    named: dict[str, str] = {}
    for sentence, doc in generator.parse(sentences, Counter()):
        if sentence.key in generator.terms:
            continue  # a documented term's description: its "It" is the term the passage shows
        source = sentence.text.strip()
        resolved = fix_spacing(doc.text)
        if resolved != fix_spacing(tidy(source)):
            text = with_source_wording(source, resolved)
            if text != source:
                named[sentence.key] = text
    return named
