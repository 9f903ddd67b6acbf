"""The evaluate stage's human-facing outputs: answers.csv, report.md and the bar-chart data."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docent.evaluation.charts import Chart, markdown
from docent.evaluation.metrics import FACT_OUTCOMES, ROW_METRICS
from docent.evaluation.runner import MODELS, PERPLEXITY_MODELS, SPLITS, EvalResult, SplitResult
from docent.io import atomic_write

MODEL_LABELS = {"base": "base", "base_fewshot": "base few-shot", "finetuned": "fine-tuned",
                "base_rag": "base + retrieval", "finetuned_rag": "fine-tuned + retrieval",
                "assistant": "assistant (fine-tuned + retrieval + gate)"}
SPLIT_TITLES = {
    "test": "test: other phrasings of facts taught in training",
    "test_unseen": "test_unseen: facts never taught, but in the sources",
    "test_absent": "test_absent: documents held out of training and of the index (abstaining is right)",
    "natural": "natural: hand-written visitor questions (data/eval/natural_questions.jsonl)",
}
# Report columns: (metric key, header). Scales: BLEU/chrF 0-100 (sacrebleu), the rest 0-1.
COLUMNS = (
    ("sentence_bleu", "sent. BLEU"),
    ("bleu", "BLEU"),
    ("chrf", "chrF"),
    ("rouge_l", "ROUGE-L"),
    ("exact_match", "EM"),
    ("f1", "F1"),
    ("perplexity", "PPL"),
)
# Bars in the plot: the 0-1 metrics only, so the bars share one axis.
PLOT_METRICS = ("correct", "abstained", "sentence_bleu", "f1")
WORST_N = 10


# ---------------------------------------------------------------- answers.csv

def answer_columns() -> list[str]:
    cols = ["split", "id", "question", "reference", "short_answer"]
    cols += [f"{m}_answer" for m in MODELS]
    cols += [f"{m}_outcome" for m in MODELS]
    cols += [f"{m}_sources" for m in MODELS if m.endswith("rag") or m == "assistant"]
    cols += [f"{m}_{metric}" for m in MODELS for metric in ROW_METRICS]
    cols += [f"{m}_perplexity" for m in PERPLEXITY_MODELS]
    return cols


def answer_rows(result: EvalResult) -> list[dict[str, Any]]:
    """One row per evaluated question: every model's answer and per-row scores (blank where not run)."""
    out: list[dict[str, Any]] = []
    for split in SPLITS:
        s = result.splits[split]
        for i, row in enumerate(s.rows):
            rec: dict[str, Any] = {
                "split": split,
                "id": row.get("id", ""),
                "question": row["question"],
                "reference": row["answer"],
                "short_answer": row.get("short_answer", ""),
            }
            for m in MODELS:
                rec[f"{m}_answer"] = s.answers[m][i] if m in s.answers else ""
                rec[f"{m}_outcome"] = s.outcomes[m][i] if m in s.outcomes else ""
                if f"{m}_sources" in answer_columns():
                    rec[f"{m}_sources"] = "; ".join(s.sources[m][i]) if m in s.sources else ""
                for metric in ROW_METRICS:
                    rec[f"{m}_{metric}"] = _fmt(getattr(s.row_scores[m][i], metric)) if m in s.row_scores else ""
            for m in PERPLEXITY_MODELS:
                nll = s.nll.get(m, [None] * len(s.rows))[i]
                rec[f"{m}_perplexity"] = _fmt(nll.perplexity) if nll is not None else ""
            out.append(rec)
    return out


def write_answers_csv(path: str | Path, result: EvalResult) -> int:
    rows = answer_rows(result)
    with atomic_write(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=answer_columns(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _fmt(value: float) -> str:
    return f"{value:.4f}"


# ---------------------------------------------------------------- plot data

def plot_points(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"metric": "<split> <metric> (<model>)", "value": v}] for dvc's bar_horizontal template.

    Ordered split, metric, model, so each metric's base / few-shot / fine-tuned bars sit together.
    """
    points = []
    for split in SPLITS:
        for metric in PLOT_METRICS:
            for m in MODELS:
                key = f"{m}.{split}.{metric}"
                if key in metrics:
                    points.append({"metric": f"{split} {metric} ({m})", "value": metrics[key]})
    return points


# ---------------------------------------------------------------- report.md

def _cell(value: Any, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key in ("bleu", "chrf", "perplexity"):
        return f"{value:.2f}"
    return f"{value:.3f}"


def _md_escape(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|") or "*(empty)*"


def headline_table(metrics: dict[str, Any], split: str) -> list[str]:
    keys = [(o, o) for o in FACT_OUTCOMES] + list(COLUMNS)
    lines = [
        "| model | " + " | ".join(h for _, h in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for m in MODELS:
        if not any(f"{m}.{split}.{key}" in metrics for key, _ in keys):
            continue
        cells = [_cell(metrics.get(f"{m}.{split}.{key}"), key) for key, _ in keys]
        lines.append(f"| {MODEL_LABELS[m]} | " + " | ".join(cells) + " |")
    return lines


def fact_grid(metrics: dict[str, Any]) -> list[str]:
    """correct / wrong / abstained per model (rows) and split (columns)."""
    splits = [s for s in SPLITS if any(f"{m}.{s}.correct" in metrics for m in MODELS)]
    lines = ["| model | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for m in MODELS:
        if not any(f"{m}.{s}.correct" in metrics for s in splits):
            continue
        cells = [" / ".join(_cell(metrics.get(f"{m}.{s}.{o}"), o) for o in FACT_OUTCOMES)
                 if f"{m}.{s}.correct" in metrics else "–" for s in splits]
        lines.append(f"| {MODEL_LABELS[m]} | " + " | ".join(cells) + " |")
    return lines


def worst_rows(s: SplitResult, model: str = "finetuned_rag", n: int = WORST_N) -> list[int]:
    """Indices of a model's n worst answers: wrong ones first, then abstentions, by sentence BLEU."""
    scores = s.row_scores.get(model, [])
    outcomes = s.outcomes.get(model, ["wrong"] * len(scores))
    rank = {"wrong": 0, "abstained": 1, "correct": 2}
    order = sorted(range(len(scores)), key=lambda i: (rank[outcomes[i]], scores[i].sentence_bleu, scores[i].f1, i))
    return [i for i in order if outcomes[i] != "correct"][:n]


def render_report(result: EvalResult, probe_limit: int = 300, charts: Sequence[Chart] = (),
                  report_path: str | Path = "report.md") -> str:
    """The report's Markdown; `charts` are linked by paths relative to `report_path`'s folder."""
    m = result.metrics
    lines = ["# Evaluation report", ""]
    setup = result.setup
    lines.append(
        f"Base model `{setup.get('base_model', '?')}` (zero-shot, and few-shot with "
        f"{m.get('few_shot_examples', 0)} training examples as earlier chat turns) against its "
        f"{setup.get('method', '?')} fine-tune (trained with context: {setup.get('context', '?')}), each "
        f"closed-book and with the top {setup.get('retrieval_k', '?')} retrieved passages in the prompt. "
        f"Greedy decoding, at most {setup.get('max_new_tokens', '?')} new tokens per answer."
    )
    lines.append(
        "An answer is **correct** when it states the pair's short answer (the span the question asks "
        "for; accents, case and punctuation folded, numbers normalized, word order free), **abstained** "
        "when it is the abstention (or the gate's refusal), **wrong** otherwise."
    )
    lines += ["", "## Facts: correct / wrong / abstained", ""]
    lines += fact_grid(m)
    lines.append(
        "sent. BLEU = mean sacrebleu sentence BLEU / 100 (0–1, the reference project's scale); "
        "BLEU and chrF = sacrebleu corpus scores (0–100); ROUGE-L F1, SQuAD exact match (EM) and token F1 "
        "on 0–1; PPL = perplexity of the reference answers (answer tokens only, lower is better; not "
        "measured for the few-shot prompt)."
    )
    lines.append("")
    if charts:
        lines += markdown(charts, report_path)
    for split, title in SPLIT_TITLES.items():
        n = m.get(f"n_questions.{split}", 0)
        total = m.get(f"n_questions_available.{split}", 0)
        lines.append(f"## {title} ({n} of {total} questions)")
        lines.append("")
        if not n:
            lines += ["No questions in this split.", ""]
            continue
        lines += headline_table(m, split)
        lines.append("")
        deltas = [f"{h} {m[f'delta.{split}.{k}']:+.3f}" for k, h in COLUMNS if f"delta.{split}.{k}" in m]
        lines.append("Fine-tuned minus base: " + ", ".join(deltas) + ".")
        cut = [f"{MODEL_LABELS[x]} {m[f'{x}.{split}.hit_max_new_tokens']}" for x in MODELS
               if f"{x}.{split}.hit_max_new_tokens" in m]
        lines.append("Answers cut at eval.max_new_tokens: " + ", ".join(cut) + ".")
        lines.append("")

    lines += ["## Relevance classifier", ""]
    recalls = [f"{split} {m[f'classifier.{split}.recall']:.3f}" for split in SPLITS
               if f"classifier.{split}.recall" in m]
    spec = m.get("classifier.unrelated.specificity")
    lines.append(
        f"Accuracy {m['classifier.accuracy']:.3f} on {m['classifier.n_related']} in-domain and "
        f"{m['classifier.n_unrelated']} held-out unrelated questions; in-domain accepted: "
        + ", ".join(recalls)
        + (f"; unrelated rejected: {spec:.3f}." if spec is not None else ".")
    )
    lines.append("")

    for split in ("test", "test_unseen", "natural"):
        s = result.splits.get(split)
        if s is None or not s.rows or "finetuned_rag" not in s.row_scores:
            continue
        worst = worst_rows(s)
        if not worst:
            continue
        lines += [f"## Fine-tuned + retrieval on {split}: the {len(worst)} worst answers", ""]
        lines += ["| question | short answer | answer | outcome | sources |", "|---|---|---|---|---|"]
        for i in worst:
            lines.append(
                f"| {_md_escape(s.rows[i]['question'])} | {_md_escape(s.rows[i].get('short_answer', ''))} | "
                f"{_md_escape(s.answers['finetuned_rag'][i])} | {s.outcomes['finetuned_rag'][i]} | "
                f"{_md_escape('; '.join(s.sources['finetuned_rag'][i]))} |"
            )
        lines.append("")

    if result.probes:
        lines += ["## Probe questions (no reference)", ""]
        for p in result.probes:
            lines.append(f"**{_md_escape(p['question'])}**")
            lines.append("")
            lines.append(f"- base + retrieval: {_md_escape(p['base'], probe_limit)}")
            lines.append(f"- fine-tuned + retrieval: {_md_escape(p['finetuned'], probe_limit)}")
            lines.append("")

    if result.few_shot:
        lines += ["## Few-shot examples given to the base model", ""]
        lines += [f"- Q: {_md_escape(q)} — A: {_md_escape(a)}" for q, a in result.few_shot]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(path: str | Path, result: EvalResult, charts: Sequence[Chart] = ()) -> None:
    with atomic_write(path) as fh:
        fh.write(render_report(result, charts=charts, report_path=path))
