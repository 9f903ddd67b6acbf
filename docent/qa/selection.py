"""The one selection step every generator's output goes through; generators differ only in how they
propose candidates (`rules`: question forms from a parse, `llm`: what the model wrote).

A generator proposes, for each fact, one or more answers with the candidate questions that ask for
them. `Selection.keep` then, in this order:

1. checks each answer (grounding.py: a complete, short, standalone sentence) and that it is grounded
   in its passage (`min_overlap` of its content tokens occur there); a failing answer drops all its
   candidates and is counted once;
2. checks each candidate question (well formed, self-contained) and, where pairs need one, its short
   answer (stated by the answer, not given away by the question);
3. drops questions already asked, by this fact or any earlier one (`normalize_text`);
4. keeps up to `per_fact` of the valid questions, as many different forms as possible (`pick`), and
   counts the rest as `candidates_beyond_per_fact`;
5. adds up to `colloquial` visitor forms of each kept question (colloquial.py: "whats the capital of
   vietnam"), new ones only, each naming the question it came from (`variant_of`) so that split
   keeps a question and its forms in one split.

Every reject is counted by reason (`rejected_<reason>`) in `counts`, never kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from docent.qa.colloquial import colloquial_forms
from docent.qa.grounding import (
    Topic,
    answer_problem,
    copular_complement,
    description_problem,
    normalize_text,
    question_problem,
    short_answer_problem,
    token_overlap,
    topic_words,
    words,
)

QTYPE_ORDER = ("define", "who", "what", "when", "where", "which", "how_many", "how_long", "how")


@dataclass(frozen=True)
class Candidate:
    qtype: str
    question: str
    short: str  # the span the question asks for: a name, a date, a number, a short noun phrase
    allow_possessive: bool = False  # the wh-word is the referent of "his"/"her"
    variant_of: str = ""  # a visitor form: the checked question it was derived from
    stranded: bool = False  # ends on its preposition by design ("What is Cần Thơ noted for?")


Proposal = tuple[str, Sequence[Candidate]]  # an answer and the questions proposed for it


def question_key(cand: Candidate) -> str:
    """What makes two questions the same question: their normalised text, and for a definition
    question ("What was X?") the thing defined, whatever its wh-word and tense.

    "Who was Napoleon III?" and "What was Napoleon III?" ask the same thing; the first definition in
    a document (its lead) is the one a reader expects, a later "Napoleon III was the longest-reigning
    French head of state" is one true answer among several and would score a right answer wrong."""
    defined = copular_complement(cand.question) if cand.qtype == "define" else None
    return f"define {defined}" if defined else normalize_text(cand.question)


def document_name(title: str) -> str:
    """How a question names a manual: "venv — Creation of virtual environments" -> "venv"."""
    return re.split(r" [—–-] |: ", title, maxsplit=1)[0].strip()


def anchored(question: str, title: str) -> str:
    """The question asked of its document: "What is sorted by namespace URI?" names nothing one
    could look up, "What is sorted by namespace URI according to the shared mime info spec
    documentation?" does (a reader of a manual asks of the manual)."""
    return f"{question.rstrip('?').rstrip()} according to the {document_name(title)} documentation?"


def _refers_back(cand: Candidate) -> bool:
    """ "What is the type?" defines a thing named only by what came before ("The type determined in
    this way is only a guess"): naming the document does not say which type."""
    defined = (copular_complement(cand.question) or "") if cand.qtype == "define" else ""
    return defined.split(" ", 1)[0] in ("the", "this", "these", "that", "those")


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


@dataclass
class Selection:
    """Checks, dedupe, cap per fact and rejection counts, shared by every generator (one per run:
    `seen` spans all facts, so no question is asked twice)."""

    per_fact: int
    max_answer_words: int
    min_overlap: float
    short_answers: bool = True
    counts: Counter[str] = field(default_factory=Counter)
    colloquial: int = 0  # visitor forms added per kept question
    seen: set[str] = field(default_factory=set)

    def answer_problem(self, answer: str, passage: str) -> str | None:
        problem = answer_problem(answer, self.max_answer_words)
        if problem is None and token_overlap(answer, passage) < self.min_overlap:
            problem = "not_grounded"
        return problem

    def candidate_problem(self, cand: Candidate, answer: str, topic: Topic = ()) -> str | None:
        return question_problem(cand.question, allow_possessive=cand.allow_possessive, topic=topic,
                                stranded=cand.stranded) or (
            description_problem(cand.question) if cand.qtype != "define" and not cand.stranded else None) or (
            short_answer_problem(cand.short, cand.question, answer) if self.short_answers else None)

    def keep(self, proposals: Iterable[Proposal], passage: str, title: str = "",
             section: str = "", source: str = "") -> list[tuple[str, Candidate]]:
        """The (answer, question) pairs kept for one fact whose answers come from `passage`, in the
        document `title`, under the heading path `section` (they anchor a question:
        grounding.topic_words). `source` names where the document came from (its doc_id's prefix):
        in a user's own documents (`files`) a question that names nothing specific is asked again
        naming its document (`anchored`). Not in encyclopedia articles: there such a question had
        mostly lost its subject or asked for the article's own ("Who played a crucial role ...?" in
        "Edwin Hubble"): 10 of 29 read on the default and astronomy domains were bad."""
        topic = topic_words(title, section)
        valid: list[Candidate] = []
        answer_of: dict[str, str] = {}  # a valid question's key -> its answer
        local: set[str] = set()
        for answer, candidates in proposals:
            problem = self.answer_problem(answer, passage)
            if problem:
                self.counts[f"rejected_{problem}"] += 1
                continue
            for cand in candidates:
                problem = self.candidate_problem(cand, answer, topic)
                if problem == "question_no_anchor" and title and source == "files" and not _refers_back(cand):
                    cand = replace(cand, question=anchored(cand.question, title))
                    # the document's name anchors it, though a lower-case one ("venv") is no capital
                    problem = self.candidate_problem(cand, answer, (*topic, frozenset(words(document_name(title)))))
                    self.counts["anchored_questions"] += problem is None
                key = question_key(cand)
                if problem:
                    self.counts[f"rejected_{problem}"] += 1
                elif key in self.seen or key in local:
                    self.counts["rejected_duplicate_question"] += 1
                else:
                    local.add(key)
                    valid.append(cand)
                    answer_of[key] = answer
        chosen = pick(valid, self.per_fact)
        self.seen.update(question_key(c) for c in chosen)
        self.counts["candidates_beyond_per_fact"] += len(valid) - len(chosen)
        kept = [(answer_of[question_key(c)], c) for c in chosen]
        for answer, cand in list(kept):
            for form in colloquial_forms(cand.question)[:self.colloquial]:
                key = normalize_text(form)
                if key in self.seen:
                    self.counts["colloquial_duplicate_question"] += 1
                    continue
                self.seen.add(key)
                self.counts["colloquial_questions"] += 1
                kept.append((answer, replace(cand, question=form, variant_of=cand.question)))
        return kept
