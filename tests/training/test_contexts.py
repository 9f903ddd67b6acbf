"""RAFT-style contexts: gold passage present in a share p_gold, abstention targets otherwise,
the passages in the prompt (no loss on them), the same draw for the same row every time."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for retrieval.test_index's corpus

from retrieval.test_index import rows as corpus_rows
from tiny_models import build_tiny_tokenizer

from docent.config import RetrievalParams
from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels
from docent.retrieval.index import PassageIndex
from docent.retrieval.passages import build_passages
from docent.training.contexts import with_contexts

ABSTAIN = "I don't find that in my sources."
QA = [
    {"id": "q1", "question": "What is the capital of Vietnam?", "answer": "Hà Nội is the capital of Vietnam.",
     "short_answer": "Hà Nội", "sent_ids": ["hanoi#0"]},
    {"id": "q2", "question": "Which river does the citadel of Huế sit on?",
     "answer": "Its citadel sits on the Perfume River.", "short_answer": "Perfume River", "sent_ids": ["hue#1"]},
    {"id": "q3", "question": "When did the Trưng sisters rebel?",
     "answer": "The Trưng sisters led a rebellion against Chinese rule in AD 40.", "short_answer": "AD 40",
     "sent_ids": ["trung#0"]},
]


def index() -> PassageIndex:
    return PassageIndex.build(build_passages(corpus_rows(), passage_words=12), {"passage_words": 12})


def params(**kw: float) -> RetrievalParams:
    return RetrievalParams(**{"passage_words": 12, "resolve_references": False, "code_lead_words": 60, "k": 2,
                              "p_gold": 0.8,
                              "abstain_share": 1.0, "min_score": 0.0, "min_query_match": 0.0, "min_similarity": 1.0,
                              "embedding_model": "", "lexical_weight": 1.0, "answer_type_bonus": 0.0,
                              "train_embeddings": False,
                              "abstain_min_prob": 0.0, "answer_mode": "generate", "distractor_pool": 5,
                              "absent_document_share": 0.0, "gold_position": "retrieved",
                              **kw})


def test_gold_always_present_when_p_gold_is_one() -> None:
    idx = index()
    out, counts = with_contexts(QA, idx, params(p_gold=1.0), ABSTAIN, seed=1)
    gold = {"q1": "hanoi@0", "q2": "hue@1", "q3": "trung@0"}
    for row in out:
        assert gold[row["id"]] in row["context_passages"] and 1 <= len(row["context_passages"]) <= 2
        assert row["answer"] != ABSTAIN
        assert row["question"].startswith("Answer from the sources. If they do not say, reply: " + ABSTAIN +
                                          "\nSources:\n[1] ") and row["question"].endswith(
            "Question: " + next(q["question"] for q in QA if q["id"] == row["id"]))
    assert counts["gold_present"] == 3 and counts["target_abstain"] == 0


def test_training_contexts_come_from_bm25_unless_train_embeddings() -> None:
    """retrieval.train_embeddings false: an index with embeddings gives the training rows the
    distractors BM25 alone finds; true: the fused ranking the assistant answers with."""
    from retrieval.test_index import EMBEDDED

    hybrid = PassageIndex.build(build_passages(corpus_rows(), passage_words=12), {**EMBEDDED, "passage_words": 12})
    rows = [*QA, {"id": "q5", "question": "which women revolted", "answer": "The Trưng sisters led a rebellion.",
                  "short_answer": "Trưng sisters", "sent_ids": ["trung#0"]}]
    lexical, _ = with_contexts(rows, index(), params(p_gold=0.0), ABSTAIN, seed=1)
    from_hybrid, _ = with_contexts(rows, hybrid, params(p_gold=0.0), ABSTAIN, seed=1)
    assert from_hybrid == lexical
    fused, _ = with_contexts(rows, hybrid, params(p_gold=0.0, train_embeddings=True), ABSTAIN, seed=1)
    # "which women revolted" shares no word with any passage: BM25 gives it none, the embedding two
    assert [r["context_passages"] for r in lexical if r["id"] == "q5"] == [[]]
    assert len(next(r for r in fused if r["id"] == "q5")["context_passages"]) == 2


def test_random_gold_position_spreads_the_gold_passage_over_the_slots() -> None:
    idx = index()
    many = [{**QA[0], "id": f"q{n}"} for n in range(60)]
    kept, _ = with_contexts(many, idx, params(p_gold=1.0), ABSTAIN, seed=1)
    moved, counts = with_contexts(many, idx, params(p_gold=1.0, gold_position="random"), ABSTAIN, seed=1)
    slot = [row["context_passages"].index("hanoi@0") for row in moved]
    assert {row["context_passages"].index("hanoi@0") for row in kept} == {0}  # retrieval ranks it first
    assert set(slot) == {0, 1} and 15 <= slot.count(1) <= 45  # both slots, about half each
    assert counts["gold_moved"] == slot.count(1)
    assert all(sorted(a["context_passages"]) == sorted(b["context_passages"]) for a, b in zip(kept, moved, strict=True))
    again, _ = with_contexts(many, idx, params(p_gold=1.0, gold_position="random"), ABSTAIN, seed=1)
    assert again == moved  # the same draw every time


def test_gold_absent_rows_abstain_unless_a_distractor_states_the_fact() -> None:
    idx = index()
    out, counts = with_contexts(QA, idx, params(p_gold=0.0), ABSTAIN, seed=1)
    for row in out:
        assert not {"hanoi@0", "hue@1", "trung@0"} & set(row["context_passages"])
        assert row["answer"] == ABSTAIN
    assert counts["gold_absent"] == 3 and counts["target_abstain"] == 3
    # a distractor that states the short answer: the true answer is the target, not the abstention
    stated = [{**QA[0], "short_answer": "Vietnam", "id": "q4"}]  # "Vietnam" is in other passages too
    out, counts = with_contexts(stated, idx, params(p_gold=0.0, k=3), ABSTAIN, seed=1)
    assert out[0]["answer"] == QA[0]["answer"] and counts["gold_absent_fact_stated_elsewhere"] == 1
    # abstain_share 0: memorisation targets
    out, counts = with_contexts(QA, idx, params(p_gold=0.0, abstain_share=0.0), ABSTAIN, seed=1)
    assert [r["answer"] for r in out] == [q["answer"] for q in QA] and counts["target_abstain"] == 0


def test_shares_follow_p_gold_and_draws_are_per_row() -> None:
    idx = index()
    many = [{**QA[i % 3], "id": f"r{i}"} for i in range(400)]
    out, counts = with_contexts(many, idx, params(p_gold=0.7), ABSTAIN, seed=3)
    assert 0.62 < counts["gold_present"] / 400 < 0.78
    # the same row gets the same context and target in any order and any company
    again, _ = with_contexts(list(reversed(many[:50])), idx, params(p_gold=0.7), ABSTAIN, seed=3)
    assert {r["id"]: (r["question"], r["answer"]) for r in again} == \
        {r["id"]: (r["question"], r["answer"]) for r in out[:50]}
    other, _ = with_contexts(many, idx, params(p_gold=0.7), ABSTAIN, seed=4)
    assert [r["answer"] for r in other] != [r["answer"] for r in out]


def test_loss_only_on_the_answer_over_a_context_prompt() -> None:
    tok = build_tiny_tokenizer()
    out, _ = with_contexts(QA[:1], index(), params(p_gold=1.0), ABSTAIN, seed=1)
    enc = answer_only_labels(tok, out[0]["question"], out[0]["answer"], max_len=512)
    assert enc is not None
    labelled = [t for t, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX]
    answer_ids = tok(out[0]["answer"], add_special_tokens=False)["input_ids"]
    assert labelled[:len(answer_ids)] == answer_ids and len(labelled) == len(answer_ids) + 1  # + end of turn
    # every token of the passages and the question is prompt
    prompt_len = enc["labels"].index(next(label for label in enc["labels"] if label != IGNORE_INDEX))
    assert prompt_len > 40 and all(label == IGNORE_INDEX for label in enc["labels"][:prompt_len])


def test_absent_document_rows_leave_out_every_passage_of_the_gold_document() -> None:
    idx = index()
    docs = [{**q, "doc_id": q["sent_ids"][0].split("#")[0]} for q in QA]
    # with only the gold passage out, other passages of the same document stay (hanoi has two)
    kept, _ = with_contexts(docs, idx, params(p_gold=0.0), ABSTAIN, seed=1)
    by_doc = {p.passage_id: p.doc_id for p in idx.passages}
    assert any(by_doc[pid] == row["doc_id"] for row in kept for pid in row["context_passages"])
    out, counts = with_contexts(docs, idx, params(p_gold=0.0, absent_document_share=1.0), ABSTAIN, seed=1)
    for row in out:  # (a question whose words no other document has retrieves nothing else)
        assert all(by_doc[pid] != row["doc_id"] for pid in row["context_passages"]) and row["answer"] == ABSTAIN
    assert sum(bool(row["context_passages"]) for row in out) >= 2
    assert counts["gold_document_absent"] == 3 and counts["gold_absent"] == 3
    # share 0 draws nothing extra: the same contexts and targets as before the option existed
    again, counts0 = with_contexts(docs, idx, params(p_gold=0.0), ABSTAIN, seed=1)
    assert again == kept and counts0["gold_document_absent"] == 0
