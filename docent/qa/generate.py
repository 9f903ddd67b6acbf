"""generate_qa's work: domain sentences -> QA rows, snapshot articles -> unrelated questions, metrics."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from docent.cli import UserError
from docent.config import Params
from docent.io import read_jsonl
from docent.qa.grounding import normalize_text
from docent.qa.records import SENTENCE_KEYS, QAPair, Sentence, sentence_key, sentences_from_rows

log = logging.getLogger(__name__)


class Generator(Protocol):
    # short_answers: keep only pairs whose short answer can score an answer (domain QA); the
    # out-of-domain pool only trains the classifier, so it keeps every well-formed question
    def generate(self, sentences: Sequence[Sentence],
                 short_answers: bool = True) -> tuple[list[QAPair], Counter[str]]: ...


def read_sentences(path: str | Path) -> list[Sentence]:
    rows = read_jsonl(path, required=SENTENCE_KEYS, nonempty=("doc_id", "title"))
    return sentences_from_rows(rows, str(path))


def build_generator(params: Params, model_cache: str | Path) -> Generator:
    qa = params.qa
    assert qa is not None
    if qa.generator == "rules":
        from docent.qa.rules import RulesGenerator, load_spacy

        return RulesGenerator(load_spacy(), per_fact=qa.per_fact, max_answer_words=qa.max_answer_words,
                              min_overlap=qa.min_overlap, colloquial=qa.colloquial_forms)
    from docent.modeling.loading import load_base_model, load_tokenizer, resolve_model_source
    from docent.qa.llm import LLMGenerator

    assert params.model is not None
    model_params = dataclasses.replace(params.model, name=qa.model.strip() or params.model.name)
    model = load_base_model(model_params, model_cache)
    tokenizer = load_tokenizer(resolve_model_source(model_params, model_cache), model_params.trust_remote_code)
    return LLMGenerator(model, tokenizer, per_fact=qa.per_fact, min_overlap=qa.min_overlap,
                        max_new_tokens=qa.llm_max_new_tokens, max_answer_words=qa.max_answer_words,
                        colloquial=qa.colloquial_forms)


def qa_rows(pairs: Sequence[QAPair]) -> list[dict[str, Any]]:
    """Rows with stable ids: the fact's key and the phrasing's number within it."""
    per_fact: Counter[str] = Counter()
    rows = []
    for pair in pairs:
        per_fact[pair.fact_id] += 1
        rows.append(pair.row(f"{pair.fact_id}/q{per_fact[pair.fact_id]}"))
    return rows


def phrasing_metrics(pairs: Sequence[QAPair], sentences: Sequence[Sentence]) -> dict[str, float]:
    """How much of the corpus the pairs cover and how varied their phrasings are.

    - coverage: share of the clean sentences that some pair is grounded in (a sentence with no
      question is never taught);
    - phrasings_per_fact: questions per fact, all of them and the checked ones (no visitor forms);
    - self_bleu: BLEU of each phrasing against the other phrasings of its fact (lowercased),
      averaged over facts with two or more: 100 = the same words, lower = more varied wording.
    """
    from sacrebleu.metrics import BLEU

    keys = {s.key for s in sentences}
    covered = {sentence_key(p.doc_id, s) for p in pairs for s in p.sent_ids} & keys
    by_fact: dict[str, list[QAPair]] = {}
    for pair in pairs:
        by_fact.setdefault(pair.fact_id, []).append(pair)
    bleu = BLEU(lowercase=True, effective_order=True)
    scores = [bleu.sentence_score(p.question, [o.question for o in group if o is not p]).score
              for group in by_fact.values() if len(group) >= 2 for p in group]
    checked = [p for p in pairs if not p.variant_of]
    return {
        "coverage": round(len(covered) / len(keys), 4) if keys else 0.0,
        "phrasings_per_fact": round(len(pairs) / len(by_fact), 3) if by_fact else 0.0,
        "checked_phrasings_per_fact": round(len(checked) / len({p.fact_id for p in checked}), 3) if checked else 0.0,
        "self_bleu": round(sum(scores) / len(scores), 2) if scores else 0.0,
    }


def unrelated_rows(sentences: Sequence[Sentence], domain: Sequence[Sentence], generator: Generator,
                   params: Params, counts: Counter[str]) -> list[dict[str, Any]]:
    from docent.qa.unrelated import lead_sentences, read_extra_questions, sample_articles
    from docent.sources.snapshot import load_snapshot

    qa = params.qa
    assert qa is not None
    questions: list[tuple[str, str]] = []
    if qa.unrelated_pages:
        assert params.seed is not None
        articles = sample_articles(load_snapshot(), domain, qa.unrelated_pages, params.seed, counts)
        pool_sentences = lead_sentences(articles, qa.unrelated_sentences_per_article, counts)
        counts["unrelated_sentences"] = len(pool_sentences)
        pairs, pool_counts = generator.generate(pool_sentences, short_answers=False)
        for key, value in pool_counts.items():
            counts[f"unrelated_{key}"] += value
        questions.extend((p.question, p.doc_id.removeprefix("unrelated:")) for p in pairs)
    if qa.unrelated_extra.strip():
        extra = read_extra_questions(qa.unrelated_extra.strip())
        counts["unrelated_extra_questions"] = len(extra)
        questions.extend(extra)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for question, source in questions:
        key = normalize_text(question)
        if not key:
            counts["unrelated_rejected_empty"] += 1
        elif key in seen:
            counts["unrelated_rejected_duplicate_question"] += 1
        else:
            seen.add(key)
            rows.append({"id": f"u{len(rows) + 1:06d}", "question": question, "source": source})
    return rows


def procedure_pairs(code_path: str | Path, params: Params,
                    asked: Sequence[QAPair]) -> tuple[list[QAPair], Counter[str]]:
    """"How do I ...?" pairs of the code blocks (docent/qa/howto.py), through the selection step
    every generator uses; questions the sentences already ask are not asked again. Counts are
    prefixed `howto_` so they stay apart from the sentence generator's."""
    from docent.qa.howto import howto_pairs
    from docent.qa.selection import Selection

    qa = params.qa
    assert qa is not None
    rows = read_jsonl(code_path, required=("doc_id", "title", "code_id", "text"), nonempty=("doc_id", "code_id"),
                      allow_empty_file=True)
    counts: Counter[str] = Counter()
    selection = Selection(qa.per_fact, qa.max_answer_words, qa.min_overlap, True, counts,
                          colloquial=qa.colloquial_forms, seen={normalize_text(p.question) for p in asked})
    pairs = howto_pairs(rows, selection, counts)
    return pairs, Counter({f"howto_{key}": value for key, value in counts.items()})


def generate_all(params: Params, sentences_path: str | Path, code_path: str | Path,
                 model_cache: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(qa rows, unrelated rows, flat metrics). Stops with a UserError rather than write an empty dataset."""
    started = time.perf_counter()
    sentences = read_sentences(sentences_path)
    generator = build_generator(params, model_cache)
    pairs, counts = generator.generate(sentences)
    procedures, procedure_counts = procedure_pairs(code_path, params, pairs)
    pairs += procedures
    counts.update(procedure_counts)
    assert params.qa is not None
    if not pairs:
        raise UserError(
            f"{sentences_path}: the {params.qa.generator} generator found no question in {len(sentences)} "
            f"sentences; check that the corpus holds full English sentences"
        )
    rows = qa_rows(pairs)
    domain_keys = {normalize_text(r["question"]) for r in rows}
    unrelated = unrelated_rows(sentences, sentences, generator, params, counts)
    overlap = [r for r in unrelated if normalize_text(r["question"]) in domain_keys]
    if overlap:
        # the same question cannot be both related and unrelated: the domain keeps it
        counts["unrelated_rejected_also_in_domain"] += len(overlap)
        unrelated = [r for r in unrelated if normalize_text(r["question"]) not in domain_keys]
    if not unrelated:
        raise UserError("qa.unrelated_pages / qa.unrelated_extra: no unrelated questions; the classifier needs some")
    metrics: dict[str, Any] = {
        "sentences": len(sentences),
        "facts": len({p.fact_id for p in pairs}),
        f"pairs_{params.qa.generator}": len(pairs),
        "pairs": len(pairs),
        "unrelated": len(unrelated),
        **phrasing_metrics(pairs, sentences),
    }
    for qtype, n in sorted(Counter(p.qtype for p in pairs).items()):
        metrics[f"qtype_{qtype}"] = n
    for key, value in sorted(counts.items()):
        metrics[key] = value
    metrics["total_s"] = round(time.perf_counter() - started, 2)
    log.info("generate_qa: %d pairs about %d facts, %d unrelated questions", len(pairs), metrics["facts"],
             len(unrelated))
    return rows, unrelated, metrics
