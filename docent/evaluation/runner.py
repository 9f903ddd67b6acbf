"""The evaluate stage's work: answer test questions with base and fine-tuned model, score them.

One model in memory: a LoRA/QLoRA fine-tune is a PeftModel over the base, and the base
answers come from the same object inside `with model.disable_adapter():` (the adapter's
delta switched off). Only a full fine-tune needs a second, separately loaded base model.
For the fine-tuned pass a LoRA adapter is merged into the float weights (W + s*B@A, undone
afterwards): the same function, but one matmul per layer instead of three plus an add, which
matters on a CPU where decoding is dominated by many small ops (measured several times faster).
A QLoRA adapter stays unmerged: folding it into 4-bit weights would re-quantise them.

Rows (model x split):
- base: the base model, zero-shot, the training prompt format;
- base_fewshot: the base model with `eval.few_shot_k` train examples as earlier chat turns
  (examples are drawn from facts not being evaluated, so no example gives an answer away);
- finetuned: the fine-tuned model, zero-shot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.config import Params
from docent.evaluation.generation import AnswerNLL, Generation, answer_nll, corpus_perplexity, generate_answers
from docent.evaluation.metrics import CORPUS_METRICS, RowScores, score_corpus
from docent.io import read_jsonl
from docent.modeling.prompt import Turn, prompt_text, stop_token_ids
from docent.training.run import physical_cores

log = logging.getLogger(__name__)

MODELS = ("base", "base_fewshot", "finetuned")
SPLITS = ("test", "test_unseen")
# Models whose reference-answer perplexity is measured (the few-shot row shares the base weights;
# its prompt differs from the training format that answer_only_labels builds).
PERPLEXITY_MODELS = ("base", "finetuned")


@dataclass
class SplitResult:
    """Everything measured on one split: the questions, each model's answers and scores."""

    split: str
    rows: list[dict[str, Any]]
    answers: dict[str, list[str]] = field(default_factory=dict)
    hit_limit: dict[str, int] = field(default_factory=dict)
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

@dataclass
class LoadedModels:
    finetuned: Any
    tokenizer: Any
    base_context: Callable[[], contextlib.AbstractContextManager[Any]]
    finetuned_context: Callable[[], contextlib.AbstractContextManager[Any]]
    method: str
    base_model: str


def load_models(finetuned_dir: Path, params: Params, model_cache: Path) -> LoadedModels:
    """The fine-tuned model, and a context in which the same (or a second) model acts as the base."""
    from docent.modeling.loading import load_base_model, load_finetuned, read_manifest

    assert params.model is not None
    manifest = read_manifest(finetuned_dir)
    method = str(manifest.get("method"))
    model, tokenizer = load_finetuned(finetuned_dir, params.model, model_cache, params.quant)
    model.eval()
    base_name = str(manifest.get("base_model", params.model.name))
    if method == "lora":
        return LoadedModels(model, tokenizer, lambda: _adapter_off(model), lambda: _adapter_merged(model),
                            method, base_name)
    if method == "qlora":
        return LoadedModels(model, tokenizer, lambda: _adapter_off(model), lambda: contextlib.nullcontext(model),
                            method, base_name)
    base = load_base_model(dataclasses.replace(params.model, name=base_name), model_cache)
    base.eval()
    return LoadedModels(model, tokenizer, lambda: contextlib.nullcontext(base),
                        lambda: contextlib.nullcontext(model), method, base_name)


@contextlib.contextmanager
def _adapter_off(peft_model: Any) -> Iterator[Any]:
    with peft_model.disable_adapter():
        yield peft_model


@contextlib.contextmanager
def _adapter_merged(peft_model: Any) -> Iterator[Any]:
    peft_model.merge_adapter()
    try:
        yield peft_model
    finally:
        peft_model.unmerge_adapter()


def _max_len(model: Any) -> int:
    return int(getattr(model.config, "max_position_embeddings", None) or 2048)


# ---------------------------------------------------------------- the run

def run_evaluation(
    params: Params,
    *,
    finetuned_dir: Path,
    classifier_dir: Path,
    split_dir: Path,
    model_cache: Path,
) -> EvalResult:
    import torch

    assert params.eval is not None and params.seed is not None
    ev = params.eval
    started = time.perf_counter()
    torch.manual_seed(params.seed)
    # Decoding is thousands of small ops; each one's thread barrier stalls badly when another job
    # holds a core, so the count is a param (0 = one per physical core, as in finetune).
    torch.set_num_threads(ev.threads or physical_cores())
    rng = random.Random(params.seed)
    metrics: dict[str, Any] = {}

    # Inputs first (cheap; a bad file stops before any model load).
    available = {name: read_split(split_dir, name, allow_empty=True) for name in SPLITS}
    if not any(available.values()):
        raise UserError(f"{split_dir}: test.jsonl and test_unseen.jsonl are both empty; nothing to evaluate")
    train = read_split(split_dir, "train", allow_empty=ev.few_shot_k == 0)
    unrelated = read_jsonl(split_dir / "unrelated_test.jsonl", required=("question",), nonempty=("question",),
                           allow_empty_file=True)
    splits = {name: SplitResult(name, sample_rows(rows, ev.max_questions, rng)) for name, rows in available.items()}
    evaluated_facts = {r.get("fact_id") for s in splits.values() for r in s.rows if r.get("fact_id") is not None}
    few_shot = choose_few_shot(train, ev.few_shot_k, evaluated_facts, rng)
    unrelated_sample = sample_rows(unrelated, ev.unrelated_questions, rng)
    for name in SPLITS:
        metrics[f"n_questions.{name}"] = len(splits[name].rows)
        metrics[f"n_questions_available.{name}"] = len(available[name])
    metrics["few_shot_examples"] = len(few_shot)

    t0 = time.perf_counter()
    models = load_models(finetuned_dir, params, model_cache)
    metrics["model_load_s"] = time.perf_counter() - t0
    tokenizer = models.tokenizer
    stop_ids = stop_token_ids(tokenizer)
    active = [s for s in splits.values() if s.rows]

    def generate(model: Any, history: Sequence[Turn], questions: Sequence[str]) -> list[Generation]:
        prompts = [prompt_text(tokenizer, q, history) for q in questions]
        return generate_answers(model, tokenizer, prompts, max_new_tokens=ev.max_new_tokens,
                                batch_size=ev.batch_size, stop_ids=stop_ids)

    def answer_all(label: str, model: Any, history: Sequence[Turn], probes: Sequence[str] = ()) -> list[str]:
        """Answer both splits (and the probe questions) in one generation call: fuller batches."""
        t = time.perf_counter()
        questions = [str(r["question"]) for s in active for r in s.rows]
        gens = generate(model, history, [*questions, *probes])
        offset = 0
        for s in active:
            mine = gens[offset : offset + len(s.rows)]
            s.answers[label] = [g.text for g in mine]
            s.hit_limit[label] = sum(g.hit_limit for g in mine)
            offset += len(s.rows)
        metrics[f"{label}_generation_s"] = time.perf_counter() - t
        log.info("%s: answered %d questions in %.1fs", label, len(gens), metrics[f"{label}_generation_s"])
        return [g.text for g in gens[offset:]]

    def score_nll(label: str, model: Any) -> None:
        t = time.perf_counter()
        for s in active:
            pairs = [(str(r["question"]), str(r["answer"])) for r in s.rows]
            s.nll[label] = answer_nll(model, tokenizer, pairs, batch_size=ev.batch_size, max_len=_max_len(model))
        metrics[f"{label}_perplexity_s"] = time.perf_counter() - t

    probe_questions = list(ev.probe_questions)
    probe_answers: dict[str, list[str]] = {}
    with models.base_context() as base:
        probe_answers["base"] = answer_all("base", base, (), probe_questions)
        if few_shot:
            answer_all("base_fewshot", base, few_shot)
        score_nll("base", base)
    with models.finetuned_context() as finetuned:
        probe_answers["finetuned"] = answer_all("finetuned", finetuned, (), probe_questions)
        score_nll("finetuned", finetuned)

    for s in active:
        for label, texts in s.answers.items():
            references = [str(r["answer"]) for r in s.rows]
            corpus, rows = score_corpus(texts, references)
            s.corpus[label] = corpus
            s.row_scores[label] = rows
    metrics.update(flat_metrics(active))
    metrics.update(classifier_metrics(classifier_dir, active, unrelated_sample))
    metrics["probe_questions"] = len(probe_questions)
    metrics["eval_total_s"] = time.perf_counter() - started

    probes = [{"question": q, "base": probe_answers["base"][i], "finetuned": probe_answers["finetuned"][i]}
              for i, q in enumerate(probe_questions)]
    setup = {"method": models.method, "base_model": models.base_model, "max_new_tokens": ev.max_new_tokens}
    return EvalResult(splits=splits, metrics=_rounded(metrics), few_shot=few_shot, probes=probes, setup=setup)


def flat_metrics(active: Sequence[SplitResult]) -> dict[str, Any]:
    """`<model>.<split>.<metric>` and `delta.<split>.<metric>` (fine-tuned minus base)."""
    out: dict[str, Any] = {}
    for s in active:
        for label, corpus in s.corpus.items():
            for name, value in corpus.items():
                out[f"{label}.{s.split}.{name}"] = value
            out[f"{label}.{s.split}.answer_words"] = sum(len(a.split()) for a in s.answers[label]) / len(s.rows)
            # answers cut at eval.max_new_tokens are counted, not hidden
            out[f"{label}.{s.split}.hit_max_new_tokens"] = s.hit_limit[label]
        for label, scores in s.nll.items():
            if any(x is not None for x in scores):
                out[f"{label}.{s.split}.perplexity"] = corpus_perplexity(scores)
        # pairs longer than the model's context get no perplexity (same for every model: one tokenizer)
        out[f"perplexity_skipped.{s.split}"] = sum(x is None for x in s.nll["base"])
        for name in (*CORPUS_METRICS, "perplexity"):
            base_key, ft_key = f"base.{s.split}.{name}", f"finetuned.{s.split}.{name}"
            if base_key in out and ft_key in out:
                out[f"delta.{s.split}.{name}"] = out[ft_key] - out[base_key]
    return out


def classifier_metrics(
    classifier_dir: Path, active: Sequence[SplitResult], unrelated: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Relevance classifier on the evaluated (in-domain) questions plus held-out unrelated ones."""
    from docent.relevance.classifier import load_classifier

    clf = load_classifier(classifier_dir)
    out: dict[str, Any] = {"classifier.threshold": float(clf.threshold)}
    correct = total = 0
    for s in active:
        # is_related(q) is score(q) >= threshold; scoring the whole list at once is the same, faster
        accepted = clf.score([str(r["question"]) for r in s.rows]) >= clf.threshold
        out[f"classifier.{s.split}.recall"] = float(accepted.mean())
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
