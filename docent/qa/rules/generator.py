"""`RulesGenerator`: sentences -> QA pairs. Every sentence is parsed once (again only where a pronoun
was rewritten); the facts and question forms it proposes go through the selection step every
generator shares (docent/qa/selection.py: checks, dedupe, cap per fact, rejection counts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from docent.qa.records import QAPair, Sentence
from docent.qa.rules.coreference import doc_entity, resolve_pronoun
from docent.qa.rules.parsing import defined_kinds, tidy
from docent.qa.rules.questions import facts_of
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
        parsed = self.parse(sentences, counts)
        selection = Selection(self.per_fact, self.max_answer_words, self.min_overlap, short_answers, counts,
                              colloquial=self.colloquial)
        pairs: list[QAPair] = []
        for sentence, doc in parsed:
            kept_before = len(pairs)
            for fact in facts_of(doc, self.max_answer_words, self.kinds):
                fact_id = f"{sentence.key}{fact.suffix}"
                for answer, cand in selection.keep([(fact.answer, fact.candidates)], doc.text, sentence.title,
                                                     sentence.section):
                    pairs.append(QAPair(question=cand.question, answer=answer, short_answer=cand.short,
                                        doc_id=sentence.doc_id,
                                        sent_ids=(sentence.sent_id,), fact_id=fact_id, qtype=cand.qtype,
                                        generator=GENERATOR, variant_of=cand.variant_of))
            if len(pairs) == kept_before:
                counts["sentences_without_question"] += 1
        return pairs, counts
