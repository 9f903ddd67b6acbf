"""split invariants: no leakage, test facts taught in train, whole facts held out, seeds reproduce, ratios."""

from __future__ import annotations

from collections import Counter

import pytest

from docent.cli import UserError
from docent.config import SplitParams
from docent.qa.grounding import normalize_text
from docent.qa.split import QA_SPLITS, UNRELATED_SPLITS, split_all

PARAMS = SplitParams(train=0.8, val=0.1, test=0.1, unseen_facts=0.1, absent_documents=0)


def qa_rows(n_facts: int = 60, per_fact: int = 3, docs: int = 1) -> list[dict]:
    rows = []
    for f in range(n_facts):
        for k in range(per_fact):
            rows.append({"id": f"f{f}/q{k}", "question": f"Question {k} about fact {f}?", "answer": f"Fact {f}.",
                         "doc_id": f"d{f % docs}", "sent_ids": [f], "generator": "rules", "fact_id": f"d#{f}",
                         "qtype": "what"})
    return rows


def unrelated_rows(n_sources: int = 50, per_source: int = 4) -> list[dict]:
    return [{"id": f"u{s}-{k}", "question": f"Unrelated {k} from article {s}?", "source": f"Article {s}"}
            for s in range(n_sources) for k in range(per_source)]


def test_no_question_in_two_splits_and_duplicates_dropped():
    rows = qa_rows()
    rows.append({**rows[0], "id": "dup", "question": "question 0 ABOUT fact 0"})  # same text, normalized
    splits, metrics = split_all(rows, unrelated_rows(), PARAMS, seed=1)
    assert metrics["dropped_duplicate_question"] == 1
    owner: dict[str, str] = {}
    for name in QA_SPLITS + UNRELATED_SPLITS:
        for row in splits[name]:
            key = normalize_text(row["question"])
            assert key not in owner, (key, owner.get(key), name)
            owner[key] = name
    assert sum(len(splits[n]) for n in QA_SPLITS) == len(rows) - 1


def test_test_facts_are_taught_in_train_and_unseen_facts_are_not():
    splits, metrics = split_all(qa_rows(), unrelated_rows(), PARAMS, seed=2)
    facts = {name: {r["fact_id"] for r in splits[name]} for name in QA_SPLITS}
    assert facts["test"] and facts["test"] <= facts["train"]
    assert facts["val"] <= facts["train"]
    assert not facts["test_unseen"] & (facts["train"] | facts["val"] | facts["test"])
    assert metrics["test_facts_taught_in_train"] == len(facts["test"])
    # whole facts: every phrasing of an unseen fact is in test_unseen
    assert all(n == 3 for n in Counter(r["fact_id"] for r in splits["test_unseen"]).values())


def test_ratios():
    splits, metrics = split_all(qa_rows(100, 3), unrelated_rows(), PARAMS, seed=3)
    assert metrics["test_unseen_facts"] == 10
    taught = 300 - len(splits["test_unseen"])
    assert len(splits["test"]) == round(0.1 * taught) and len(splits["val"]) == round(0.1 * taught)
    assert metrics["test_shortfall"] == metrics["val_shortfall"] == 0
    n_unrelated = sum(len(splits[n]) for n in UNRELATED_SPLITS)
    assert abs(len(splits["unrelated_train"]) / n_unrelated - 0.8) < 0.05


def test_unrelated_split_by_source():
    splits, _ = split_all(qa_rows(), unrelated_rows(), PARAMS, seed=4)
    sources = [{r["source"] for r in splits[n]} for n in UNRELATED_SPLITS]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])


def test_seed_reproduces_and_another_seed_differs():
    first = split_all(qa_rows(), unrelated_rows(), PARAMS, seed=5)
    assert split_all(qa_rows(), unrelated_rows(), PARAMS, seed=5) == first
    assert split_all(qa_rows(), unrelated_rows(), PARAMS, seed=6)[0]["test"] != first[0]["test"]


def test_single_phrasing_facts_cannot_feed_test():
    splits, metrics = split_all(qa_rows(30, 1), unrelated_rows(), PARAMS, seed=7)
    assert splits["test"] == [] and metrics["test_shortfall"] > 0


def test_too_few_unrelated_questions_stop():
    with pytest.raises(UserError, match="unrelated_"):
        split_all(qa_rows(), unrelated_rows(1, 1), PARAMS, seed=8)


def test_absent_documents_are_held_out_whole():
    params = SplitParams(train=0.8, val=0.1, test=0.1, unseen_facts=0.1, absent_documents=2)
    splits, metrics = split_all(qa_rows(60, 3, docs=6), unrelated_rows(), params, seed=9)
    absent_docs = {r["doc_id"] for r in splits["test_absent"]}
    assert len(absent_docs) == 2 and metrics["absent_documents"] == 2
    assert len(splits["test_absent"]) == 2 * 30  # every question of the two documents (10 facts x 3 each)
    for name in ("train", "val", "test", "test_unseen"):
        assert not absent_docs & {r["doc_id"] for r in splits[name]}, name
    assert split_all(qa_rows(60, 3, docs=6), unrelated_rows(), params, seed=9) == (splits, metrics)
    with pytest.raises(UserError, match=r"split\.absent_documents = 6"):
        split_all(qa_rows(60, 3, docs=6), unrelated_rows(),
                  SplitParams(train=0.8, val=0.1, test=0.1, unseen_facts=0.1, absent_documents=6), seed=9)


def test_a_question_and_its_visitor_forms_share_one_split():
    rows = []
    for f in range(60):
        for k in range(3):
            base = {"answer": f"Fact {f}.", "doc_id": "d0", "sent_ids": [f], "generator": "rules",
                    "fact_id": f"d#{f}", "qtype": "what"}
            rows.append({**base, "id": f"f{f}/q{2 * k}", "question": f"Question {k} about fact {f}?",
                         "variant_of": ""})
            rows.append({**base, "id": f"f{f}/q{2 * k + 1}", "question": f"question {k} about fact {f} please",
                         "variant_of": f"Question {k} about fact {f}?"})
    splits, _ = split_all(rows, unrelated_rows(), PARAMS, seed=0)
    where = {row["question"]: name for name in QA_SPLITS for row in splits[name]}
    for row in rows:
        if row["variant_of"]:
            assert where[row["question"]] == where[row["variant_of"]]
    assert splits["test"] and splits["val"]
    # test still asks facts taught in train by another phrasing
    train_facts = {r["fact_id"] for r in splits["train"]}
    assert {r["fact_id"] for r in splits["test"]} <= train_facts
