"""Answer-quality metrics: sacrebleu BLEU/chrF, ROUGE-L, SQuAD exact match and token F1.

Scales (kept in the metric names' documentation, the report and the plot):
- `bleu`, `chrf`: corpus-level sacrebleu scores, 0-100 (sacrebleu's own scale).
- `sentence_bleu`: mean over rows of sacrebleu's sentence BLEU / 100, i.e. 0-1. This is the number
  the reference project reported (0.184 base -> 0.67 fine-tuned), so the two compare.
- `rouge_l`, `exact_match`, `f1`: means over rows, 0-1.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Per-row scores, in the order they appear in answers.csv.
ROW_METRICS = ("sentence_bleu", "rouge_l", "exact_match", "f1")
# Corpus metrics (each over all rows of one model and split), in the report's column order.
CORPUS_METRICS = ("sentence_bleu", "bleu", "chrf", "rouge_l", "exact_match", "f1")


# ---------------------------------------------------------------- SQuAD v1.1

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalization: lowercase, drop ASCII punctuation, drop a/an/the, collapse whitespace.

    Same steps in the same order as the official evaluate-v1.1.py (lower -> remove_punc ->
    remove_articles -> white_space_fix). Non-ASCII letters (Vietnamese diacritics) are kept.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalized strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: harmonic mean of precision and recall of the normalized tokens (a multiset).

    precision = common / len(prediction tokens), recall = common / len(reference tokens), where
    `common` counts each token at most min(times in prediction, times in reference). As in the
    official script, no common token (including an empty side) gives 0.0.
    """
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    common = collections.Counter(pred_tokens) & collections.Counter(ref_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- sacrebleu and rouge-score

@lru_cache(maxsize=1)
def _sentence_bleu_metric() -> Any:
    from sacrebleu.metrics import BLEU

    # effective order: a 3-word answer is scored on the n-gram orders it has instead of getting 0
    return BLEU(effective_order=True)


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    # No stemming: the same tokens must appear; names and dates are what matter here.
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def sentence_bleu(prediction: str, reference: str) -> float:
    """sacrebleu sentence BLEU on the 0-1 scale (score / 100)."""
    return _sentence_bleu_metric().sentence_score(prediction, [reference]).score / 100.0


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (longest common subsequence of tokens), 0-1."""
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU, 0-100 (n-gram counts pooled over all rows, one brevity penalty)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def corpus_chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus chrF (character n-gram F-score, beta=2), 0-100."""
    import sacrebleu

    return float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)


# ---------------------------------------------------------------- per row and per corpus

@dataclass(frozen=True)
class RowScores:
    sentence_bleu: float
    rouge_l: float
    exact_match: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in ROW_METRICS}


def score_row(prediction: str, reference: str) -> RowScores:
    return RowScores(
        sentence_bleu=sentence_bleu(prediction, reference),
        rouge_l=rouge_l(prediction, reference),
        exact_match=exact_match(prediction, reference),
        f1=token_f1(prediction, reference),
    )


def score_corpus(predictions: Sequence[str], references: Sequence[str]) -> tuple[dict[str, float], list[RowScores]]:
    """Corpus metrics (see CORPUS_METRICS) and the per-row scores they average."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("no predictions to score")
    rows = [score_row(p, r) for p, r in zip(predictions, references, strict=True)]
    n = len(rows)
    corpus = {name: sum(getattr(row, name) for row in rows) / n for name in ROW_METRICS}
    corpus["bleu"] = corpus_bleu(predictions, references)
    corpus["chrf"] = corpus_chrf(predictions, references)
    return {name: corpus[name] for name in CORPUS_METRICS}, rows


# ---------------------------------------------------------------- facts

FACT_OUTCOMES = ("correct", "wrong", "abstained")


def fact_outcome(answer: str, status: str, short_answer: str) -> str:
    """correct: the answer states the short answer (accents, case, punctuation folded, numbers
    normalized); abstained: the abstention or a refusal; wrong: anything else."""
    from docent.text.normalize import states_fact

    if status != "answered":
        return "abstained"
    return "correct" if states_fact(answer, short_answer) else "wrong"


def fact_rates(outcomes: Sequence[str]) -> dict[str, float]:
    """Share of each outcome, summing to 1 (all 0 for no rows)."""
    n = len(outcomes)
    return {name: (sum(o == name for o in outcomes) / n if n else 0.0) for name in FACT_OUTCOMES}
