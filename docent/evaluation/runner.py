"""The evaluate stage's work: the grid {base, fine-tuned} x {closed-book, retrieval} on every split.

The models come from docent.modeling.lifecycle (one model in memory; a full fine-tune's base is
a second one). For the fine-tuned pass a LoRA adapter is merged into the float weights (W + s*B@A, undone
afterwards): the same function, but one matmul per layer instead of three plus an add, which
matters on a CPU where decoding is dominated by many small ops (measured several times faster).
A QLoRA adapter stays unmerged: folding it into 4-bit weights would re-quantise them.

Rows (model x split), every answer through the assistant's answer path (docent.assistant.answer):
- base / finetuned: closed-book, the question alone;
- base_rag / finetuned_rag: the top `retrieval.k` passages in the question turn, the abstention
  below `retrieval.min_score`;
- base_fewshot (when `eval.few_shot_k` > 0): the base model with that many train examples as
  earlier turns (test and test_unseen only; examples are drawn from facts not being evaluated);
- assistant: finetuned_rag behind the relevance gate, as the deployed assistant answers (no extra
  generation: a refused question gets the refusal, the others finetuned_rag's answer).
Splits: test (other phrasings of taught facts), test_unseen (facts never trained on, but in the
sources), test_absent (documents held out of training and of the index: abstain), natural (the
hand-written visitor questions). Each answer is correct, wrong or abstained (evaluation.metrics).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.config import Params
from docent.evaluation.metrics import CORPUS_METRICS, RowScores, fact_outcome, fact_rates, score_corpus
from docent.evaluation.natural import natural_questions, split_by_sources
from docent.io import read_jsonl
from docent.modeling.generation import (
    AnswerNLL,
    Generation,
    answer_nll,
    corpus_perplexity,
    generate_answers,
    max_positions,
)
from docent.modeling.lifecycle import BASE, FINETUNED, load_model_set
from docent.modeling.prompt import Turn, stop_token_ids
from docent.runtime import physical_cores

log = logging.getLogger(__name__)

MODELS = ("base", "base_fewshot", "finetuned", "base_rag", "finetuned_rag", "assistant")
GENERATED = ("base", "base_fewshot", "finetuned", "base_rag", "finetuned_rag")
SPLITS = ("test", "test_unseen", "test_absent", "natural")
FEW_SHOT_SPLITS = ("test", "test_unseen")
# Models whose reference-answer perplexity is measured (the few-shot row shares the base weights;
# its prompt differs from the training format that answer_only_labels builds).
PERPLEXITY_MODELS = ("base", "finetuned")


@dataclass
class SplitResult:
    """Everything measured on one split: the questions, each model's answers and scores."""

    split: str
    rows: list[dict[str, Any]]
    answers: dict[str, list[str]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, list[list[str]]] = field(default_factory=dict)
    answer_objects: dict[str, list[Any]] = field(default_factory=dict)
    hit_limit: dict[str, int] = field(default_factory=dict)
    floored: dict[str, int] = field(default_factory=dict)  # abstentions under the floor, answered
    row_scores: dict[str, list[RowScores]] = field(default_factory=dict)
    corpus: dict[str, dict[str, float]] = field(default_factory=dict)
    nll: dict[str, list[AnswerNLL | None]] = field(default_factory=dict)


@dataclass
class EvalResult:
    splits: dict[str, SplitResult]
    metrics: dict[str, Any]
    few_shot: list[Turn]
    probes: list[dict[str, str]]  # {"question", "base", "finetuned"}
    setup: dict[str, Any] = field(default_factory=dict)  # what was compared, for the report


# ---------------------------------------------------------------- inputs


def read_split(split_dir: Path, name: str, *, allow_empty: bool) -> list[dict[str, Any]]:
    return read_jsonl(
        split_dir / f"{name}.jsonl",
        required=("question", "answer"),
        nonempty=("question", "answer"),
        allow_empty_file=allow_empty,
    )


def sample_rows(rows: Sequence[dict[str, Any]], cap: int, rng: random.Random) -> list[dict[str, Any]]:
    """Up to `cap` rows (0 = all), a seeded sample kept in file order."""
    if cap == 0 or len(rows) <= cap:
        return list(rows)
    return [rows[i] for i in sorted(rng.sample(range(len(rows)), cap))]


def choose_few_shot(
    train: Sequence[dict[str, Any]], k: int, evaluated_fact_ids: set[Any], rng: random.Random
) -> list[Turn]:
    """k seeded (question, answer) examples from train, avoiding facts under evaluation.

    test questions are other phrasings of facts taught in train, so an example about the same
    fact would hand the base model the answer; those examples are skipped while enough remain.
    """
    if k == 0:
        return []
    pool = [r for r in train if r.get("fact_id") is None or r.get("fact_id") not in evaluated_fact_ids]
    if len(pool) < k:
        pool = list(train)
    if len(pool) < k:
        raise UserError(f"eval.few_shot_k = {k}: train has only {len(pool)} questions")
    return [(str(r["question"]).strip(), str(r["answer"]).strip()) for r in rng.sample(pool, k)]


# ---------------------------------------------------------------- models

# ---------------------------------------------------------------- the run

def run_evaluation(
    params: Params,
    *,
    finetuned_dir: Path,
    classifier_dir: Path,
    split_dir: Path,
    model_cache: Path,
    index_dir: Path,
    natural_path: Path,
) -> EvalResult:
    import torch

    from docent.assistant.answer import AnswerPath
    from docent.relevance.classifier import load_classifier
    from docent.retrieval.build import index_manifest
    from docent.retrieval.index import load_index

    assert params.eval is not None and params.seed is not None and params.retrieval and params.assistant
    ev, retrieval, assistant = params.eval, params.retrieval, params.assistant
    started = time.perf_counter()
    torch.manual_seed(params.seed)
    # Decoding is thousands of small ops; each one's thread barrier stalls badly when another job
    # holds a core, so the count is a param (0 = one per physical core, as in finetune).
    torch.set_num_threads(ev.threads or physical_cores())
    rng = random.Random(params.seed)
    metrics: dict[str, Any] = {}

    # Inputs first (cheap; a bad file stops before any model load).
    available = {name: read_split(split_dir, name, allow_empty=True) for name in SPLITS if name != "natural"}
    available["natural"] = natural_questions(natural_path, assistant.domain)
    if not any(available.values()):
        raise UserError(f"{split_dir}: every test split is empty; nothing to evaluate")
    train = read_split(split_dir, "train", allow_empty=ev.few_shot_k == 0)
    unrelated = read_jsonl(split_dir / "unrelated_test.jsonl", required=("question",), nonempty=("question",),
                           allow_empty_file=True)
    index = load_index(index_dir, expect=index_manifest(retrieval), answer_type_bonus=retrieval.answer_type_bonus)
    # A natural question about a document held out of the sources (split.absent_documents) has no
    # answer in them: it is a test_absent question. The held-out draw follows the QA set (4 December:
    # Lê Lợi and Quang Trung, 5 of the 56 questions; the run before: Lê dynasty and Pol Pot, 2), so
    # natural is scored on the questions whose document is indexed and the others are counted.
    available["natural"], held_out = split_by_sources(available["natural"], (p.title for p in index.passages))
    metrics["n_questions_on_held_out_documents.natural"] = len(held_out)
    splits = {name: SplitResult(name, sample_rows(rows, ev.max_questions, rng)) for name, rows in available.items()}
    evaluated_facts = {r.get("fact_id") for s in splits.values() for r in s.rows if r.get("fact_id") is not None}
    few_shot = choose_few_shot(train, ev.few_shot_k, evaluated_facts, rng)
    unrelated_sample = sample_rows(unrelated, ev.unrelated_questions, rng)
    for name in SPLITS:
        metrics[f"n_questions.{name}"] = len(splits[name].rows)
        metrics[f"n_questions_available.{name}"] = len(available[name])
    metrics["few_shot_examples"] = len(few_shot)
    if retrieval.k > len(index.passages):
        metrics["retrieval.k_clamped_to_passages"] = len(index.passages)
    classifier = load_classifier(classifier_dir)

    t0 = time.perf_counter()
    assert params.model is not None
    models = load_model_set(finetuned_dir, params.model, params.quant, model_cache, full_base=True)
    metrics["model_load_s"] = time.perf_counter() - t0
    tokenizer = models.tokenizer
    stop_ids = stop_token_ids(tokenizer)
    active = [s for s in splits.values() if s.rows]
    closed = AnswerPath(tokenizer, retriever=None, k=retrieval.k, min_score=retrieval.min_score,
                        abstain=assistant.abstain, refusal=assistant.refusal,
                        abstain_min_prob=retrieval.abstain_min_prob)
    grounded = AnswerPath(tokenizer, retriever=index, k=retrieval.k, min_score=retrieval.min_score,
                          abstain=assistant.abstain, refusal=assistant.refusal,
                          abstain_min_prob=retrieval.abstain_min_prob, answer_mode=retrieval.answer_mode,
                          min_query_match=retrieval.min_query_match,
                          min_similarity=retrieval.min_similarity)
    # retrieval does not depend on the model: one plan per question serves base_rag and finetuned_rag
    questions = {s.split: [str(r["question"]) for r in s.rows] for s in active}
    plans = {"closed": {name: [closed.plan(q) for q in qs] for name, qs in questions.items()},
             "grounded": {name: [grounded.plan(q) for q in qs] for name, qs in questions.items()},
             "fewshot": {name: [closed.plan(q, few_shot) for q in qs] for name, qs in questions.items()
                         if name in FEW_SHOT_SPLITS and few_shot}}

    def answer_all(label: str, model: Any, kind: str, path: AnswerPath, probes: Sequence[str] = ()) -> list[str]:
        """Every split's questions (and the probes) in one generation call: fuller batches."""
        t = time.perf_counter()
        todo = [(name, i, plan) for name, split_plans in plans[kind].items() for i, plan in enumerate(split_plans)
                if plan.prompt is not None]
        probe_plans = [path.plan(q) for q in probes]
        asked = [plan for _, _, plan in todo] + [p for p in probe_plans if p.prompt is not None]
        if path.answer_mode == "select":
            # the answer chosen among the passages' sentences and the abstention (AnswerPath.select)
            gens = [Generation(text=path.select(model, plan, batch_size=ev.batch_size, max_len=max_positions(model)),
                               hit_limit=False) for plan in asked]
        else:
            gens = generate_answers(model, tokenizer, [str(p.prompt) for p in asked], max_new_tokens=ev.max_new_tokens,
                                    batch_size=ev.batch_size, stop_ids=stop_ids, abstain_floor=path.abstain_floor)
        generated = {(name, i): g for (name, i, _), g in zip(todo, gens[:len(todo)], strict=True)}
        for s in active:
            if s.split not in plans[kind]:
                continue
            answers = [path.finish(plan, generated[(s.split, i)].text if (s.split, i) in generated else "")
                       for i, plan in enumerate(plans[kind][s.split])]
            record(s, label, answers)
            s.hit_limit[label] = sum(generated[(s.split, i)].hit_limit for i in range(len(s.rows))
                                     if (s.split, i) in generated)
            s.floored[label] = sum(generated[(s.split, i)].floored for i in range(len(s.rows))
                                   if (s.split, i) in generated)
        metrics[f"{label}_generation_s"] = time.perf_counter() - t
        log.info("%s: answered %d prompts in %.1fs", label, len(gens), metrics[f"{label}_generation_s"])
        probe_gens = iter(gens[len(todo):])
        return [path.finish(p, next(probe_gens).text if p.prompt is not None else "").text for p in probe_plans]

    def score_nll(label: str, model: Any) -> None:
        t = time.perf_counter()
        for s in active:
            if s.split in FEW_SHOT_SPLITS:
                pairs = [(str(r["question"]), str(r["answer"])) for r in s.rows]
                s.nll[label] = answer_nll(model, tokenizer, pairs, batch_size=ev.batch_size,
                                          max_len=max_positions(model))
        metrics[f"{label}_perplexity_s"] = time.perf_counter() - t

    probe_questions = list(ev.probe_questions)
    probe_answers: dict[str, list[str]] = {}
    with models.use(BASE) as base:
        answer_all("base", base, "closed", closed)
        if few_shot:
            answer_all("base_fewshot", base, "fewshot", closed)
        probe_answers["base"] = answer_all("base_rag", base, "grounded", grounded, probe_questions)
        score_nll("base", base)
    with models.use(FINETUNED, merged=True) as finetuned:
        answer_all("finetuned", finetuned, "closed", closed)
        probe_answers["finetuned"] = answer_all("finetuned_rag", finetuned, "grounded", grounded, probe_questions)
        score_nll("finetuned", finetuned)
    for s in active:
        admitted = classifier.score(questions[s.split]) >= classifier.threshold
        record(s, "assistant", [
            grounded.finish(dataclasses.replace(plan, prompt=None, reply=assistant.refusal, status="refused"))
            if not ok else answer
            for plan, ok, answer in zip(plans["grounded"][s.split], admitted, s.answer_objects["finetuned_rag"],
                                        strict=True)])

    for s in active:
        references = [str(r["answer"]) for r in s.rows]
        for label, texts in s.answers.items():
            corpus, rows = score_corpus(texts, references)
            s.corpus[label] = corpus
            s.row_scores[label] = rows
            if all(r.get("short_answer") for r in s.rows):
                s.outcomes[label] = [fact_outcome(text, status, str(r["short_answer"])) for text, status, r
                                     in zip(texts, s.statuses[label], s.rows, strict=True)]
    metrics.update(flat_metrics(active))
    metrics.update(classifier_metrics(classifier, active, unrelated_sample))
    metrics["probe_questions"] = len(probe_questions)
    metrics["total_s"] = time.perf_counter() - started

    probes = [{"question": q, "base": probe_answers["base"][i], "finetuned": probe_answers["finetuned"][i]}
              for i, q in enumerate(probe_questions)]
    setup = {"method": models.method, "base_model": str(models.manifest.get("base_model", params.model.name)),
             "max_new_tokens": ev.max_new_tokens,
             "retrieval_k": retrieval.k, "context": models.context}
    return EvalResult(splits=splits, metrics=_rounded(metrics), few_shot=few_shot, probes=probes, setup=setup)


def record(s: SplitResult, label: str, answers: Sequence[Any]) -> None:
    """One model's answers to a split: texts, statuses, the titles of their sources."""
    s.answer_objects[label] = list(answers)
    s.answers[label] = [a.text for a in answers]
    s.statuses[label] = [a.status for a in answers]
    s.sources[label] = [[p.title for p in a.sources] for a in answers]


def flat_metrics(active: Sequence[SplitResult]) -> dict[str, Any]:
    """`<model>.<split>.<metric>` and `delta.<split>.<metric>` (fine-tuned minus base)."""
    out: dict[str, Any] = {}
    for s in active:
        for label, corpus in s.corpus.items():
            for name, value in corpus.items():
                out[f"{label}.{s.split}.{name}"] = value
            out[f"{label}.{s.split}.answer_words"] = sum(len(a.split()) for a in s.answers[label]) / len(s.rows)
            # answers cut at eval.max_new_tokens are counted, not hidden
            if label in s.hit_limit:
                out[f"{label}.{s.split}.hit_max_new_tokens"] = s.hit_limit[label]
            # abstentions the model preferred below retrieval.abstain_min_prob, answered instead
            if s.floored.get(label):
                out[f"{label}.{s.split}.abstentions_under_floor"] = s.floored[label]
        for label, outcomes in s.outcomes.items():
            for name, value in fact_rates(outcomes).items():
                out[f"{label}.{s.split}.{name}"] = value
        if "assistant" in s.statuses:
            out[f"assistant.{s.split}.refused"] = sum(x == "refused" for x in s.statuses["assistant"]) / len(s.rows)
        for label, scores in s.nll.items():
            if any(x is not None for x in scores):
                out[f"{label}.{s.split}.perplexity"] = corpus_perplexity(scores)
        # pairs longer than the model's context get no perplexity (same for every model: one tokenizer)
        if "base" in s.nll:
            out[f"perplexity_skipped.{s.split}"] = sum(x is None for x in s.nll["base"])
        for name in (*CORPUS_METRICS, "perplexity", "correct"):
            base_key, ft_key = f"base.{s.split}.{name}", f"finetuned.{s.split}.{name}"
            if base_key in out and ft_key in out:
                out[f"delta.{s.split}.{name}"] = out[ft_key] - out[base_key]
    return out


def classifier_metrics(clf: Any, active: Sequence[SplitResult], unrelated: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Relevance classifier on the evaluated (in-domain) questions plus held-out unrelated ones;
    the accuracy over test, test_unseen and the unrelated ones, as before the other splits existed."""
    out: dict[str, Any] = {"classifier.threshold": float(clf.threshold)}
    correct = total = 0
    for s in active:
        # is_related(q) is score(q) >= threshold; scoring the whole list at once is the same, faster
        accepted = clf.score([str(r["question"]) for r in s.rows]) >= clf.threshold
        out[f"classifier.{s.split}.recall"] = float(accepted.mean())
        if s.split in FEW_SHOT_SPLITS:
            correct += int(accepted.sum())
            total += len(accepted)
    out["classifier.n_related"] = total
    out["classifier.n_unrelated"] = len(unrelated)
    if unrelated:
        rejected = clf.score([str(r["question"]) for r in unrelated]) < clf.threshold
        out["classifier.unrelated.specificity"] = float(rejected.mean())
        correct += int(rejected.sum())
        total += len(rejected)
    out["classifier.accuracy"] = correct / total
    return out


def _rounded(metrics: dict[str, Any]) -> dict[str, Any]:
    """Floats to 6 decimals: stable, readable `dvc metrics diff`, no float noise in the last digits."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in sorted(metrics.items())}
