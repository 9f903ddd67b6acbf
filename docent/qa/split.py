"""Seeded train/val/test/test_unseen split of QA pairs, and train/val/test of the unrelated pool.

- test_unseen: whole facts held out (`split.unseen_facts` of the facts): was fine-tuning able to teach
  facts at all, or does the model invent confident answers about facts it never saw?
- test / val: one phrasing of a fact (with its visitor forms) whose other phrasings stay in train,
  so test asks a taught fact in a form training never showed (extraction, not recall of a seen string).
- test_absent: every question of `split.absent_documents` whole documents (a seeded choice), which
  are also left out of the retrieval index and the classifier's positives: questions of the domain
  whose answers are (mostly) in no remaining source, where the right answer is the abstention.
- No question text (normalized) is in two splits: duplicates are dropped before splitting, counted.
- Unrelated questions are split by source article, so the classifier's test topics are unseen too.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from docent.cli import UserError
from docent.config import SplitParams
from docent.qa.grounding import normalize_text

QA_SPLITS = ("train", "val", "test", "test_unseen", "test_absent")
UNRELATED_SPLITS = ("unrelated_train", "unrelated_val", "unrelated_test")


def dedupe(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = normalize_text(row["question"])
        if key in seen:
            continue
        seen.add(key)
        kept.append(row)
    return kept, len(rows) - len(kept)


def phrasing_groups(rows: Sequence[dict[str, Any]], assigned: set[int]) -> dict[str, list[list[int]]]:
    """Each fact's questions in groups that go to one split together: a checked question and the
    visitor forms derived from it (`variant_of`, docent/qa/colloquial.py). "whats the capital of
    vietnam" in train would give away "What is the capital of Vietnam?" in test."""
    groups: dict[str, dict[str, list[int]]] = {}
    for k, row in enumerate(rows):
        if k in assigned:
            continue
        root = normalize_text(str(row.get("variant_of") or row["question"]))
        groups.setdefault(str(row["fact_id"]), {}).setdefault(root, []).append(k)
    return {fact: list(by_root.values()) for fact, by_root in groups.items()}


def split_qa(rows: Sequence[dict[str, Any]], params: SplitParams, seed: int) -> tuple[dict[str, list], Counter]:
    counts: Counter[str] = Counter()
    rows, counts["dropped_duplicate_question"] = dedupe(rows)
    documents = sorted({str(r["doc_id"]) for r in rows})
    if params.absent_documents >= len(documents):
        raise UserError(f"split.absent_documents = {params.absent_documents}: the QA pairs come from only "
                        f"{len(documents)} documents; hold out fewer")
    absent = set(random.Random(seed + 2).sample(documents, params.absent_documents))
    assignment: dict[int, str] = {k: "test_absent" for k, row in enumerate(rows) if str(row["doc_id"]) in absent}
    by_fact = phrasing_groups(rows, set(assignment))
    facts = sorted(by_fact)
    rng = random.Random(seed)
    rng.shuffle(facts)
    n_unseen = round(params.unseen_facts * len(facts))
    unseen, taught = facts[:n_unseen], facts[n_unseen:]
    if not taught:
        raise UserError(f"split.unseen_facts = {params.unseen_facts:g}: holds out every one of {len(facts)} facts")
    assignment.update({k: "test_unseen" for fact in unseen for group in by_fact[fact] for k in group})
    remaining = {fact: list(by_fact[fact]) for fact in taught}
    n_taught = sum(len(group) for groups in remaining.values() for group in groups)
    # round() of each share of the taught questions; whatever is not test or val is train
    targets = {"test": round(params.test * n_taught), "val": round(params.val * n_taught)}
    for name in ("test", "val"):
        taken = 0
        while taken < targets[name]:
            # one phrasing (with its visitor forms) per fact per pass, only from facts that keep at
            # least one other phrasing for train
            eligible = [fact for fact in taught if len(remaining[fact]) >= 2]
            if not eligible:
                break
            rng.shuffle(eligible)
            for fact in eligible:
                if taken >= targets[name]:
                    break
                group = remaining[fact].pop(rng.randrange(len(remaining[fact])))
                for k in group:
                    assignment[k] = name
                taken += len(group)
        counts[f"{name}_shortfall"] = targets[name] - taken
    for fact in taught:
        for group in remaining[fact]:
            for k in group:
                assignment[k] = "train"
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in QA_SPLITS}
    for k, row in enumerate(rows):
        splits[assignment[k]].append(row)
    if not splits["train"]:
        raise UserError("split: no question left for train; generate more QA pairs")
    for name in QA_SPLITS:
        counts[f"{name}_questions"] = len(splits[name])
        counts[f"{name}_facts"] = len({str(r["fact_id"]) for r in splits[name]})
    counts["absent_documents"] = len(absent)
    return splits, counts


def split_unrelated(rows: Sequence[dict[str, Any]], params: SplitParams, seed: int,
                    taken: set[str]) -> tuple[dict[str, list], Counter]:
    """By source article, in the QA ratios; questions also in the QA splits are dropped (counted)."""
    counts: Counter[str] = Counter()
    rows, counts["unrelated_dropped_duplicate_question"] = dedupe(rows)
    clean = [r for r in rows if normalize_text(r["question"]) not in taken]
    counts["unrelated_dropped_also_related"] = len(rows) - len(clean)
    by_source: dict[str, list[int]] = {}
    for k, row in enumerate(clean):
        by_source.setdefault(str(row["source"]), []).append(k)
    sources = sorted(by_source)
    random.Random(seed + 1).shuffle(sources)
    total = len(clean)
    bounds = (params.train * total, (params.train + params.val) * total)
    assignment: dict[int, str] = {}
    filled = 0
    for source in sources:
        # a source goes to the split whose share the running count is in
        name = UNRELATED_SPLITS[0] if filled < bounds[0] else UNRELATED_SPLITS[1] if filled < bounds[1] \
            else UNRELATED_SPLITS[2]
        for k in by_source[source]:
            assignment[k] = name
        filled += len(by_source[source])
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in UNRELATED_SPLITS}
    for k, row in enumerate(clean):
        splits[assignment[k]].append(row)
    for name in UNRELATED_SPLITS:
        counts[f"{name}_questions"] = len(splits[name])
    return splits, counts


def split_all(qa: Sequence[dict[str, Any]], unrelated: Sequence[dict[str, Any]], params: SplitParams,
              seed: int) -> tuple[dict[str, list], dict[str, Any]]:
    qa_splits, counts = split_qa(qa, params, seed)
    taken = {normalize_text(r["question"]) for rows in qa_splits.values() for r in rows}
    unrelated_splits, unrelated_counts = split_unrelated(unrelated, params, seed, taken)
    counts.update(unrelated_counts)
    for name in UNRELATED_SPLITS:
        if not unrelated_splits[name]:
            raise UserError(f"split: {name} is empty ({len(unrelated)} unrelated questions); "
                            "raise qa.unrelated_pages or add qa.unrelated_extra")
    train_facts = {str(r["fact_id"]) for r in qa_splits["train"]}
    test_facts = {str(r["fact_id"]) for r in qa_splits["test"]}
    counts["test_facts_taught_in_train"] = len(test_facts & train_facts)
    return {**qa_splits, **unrelated_splits}, dict(sorted(counts.items()))
