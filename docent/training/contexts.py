"""RAFT-style training examples: each question carries the passages retrieval finds for it.

Zhang et al. 2024 (RAFT) trained on the question with retrieved documents, the one holding the
answer ("gold") among distractors in part of the examples and left out in the rest; the model
learns to read the passages, to ignore the distractors, and (here) to say it does not know when
the passages are silent. For each QA row, with its own seeded draw (the same contexts whatever
the row order or the number of processes):
- with probability `retrieval.p_gold`: the top `retrieval.k` passages for its question, the gold
  passage kept at its rank, or put in place of the last one when retrieval missed it; target: the
  answer. With `retrieval.gold_position: random` the gold passage then moves to a slot drawn
  uniformly among the k (the others keep their order): retrieval ranks a generated question's own
  passage first for 0.91 of the training questions but for 0.71 of the natural ones, so a model
  that learnt "the answer is in [1]" abstains when it is in [3];
- otherwise: the top k passages that are not gold; target: `assistant.abstain` with probability
  `retrieval.abstain_share`, else the answer (memorisation). When a distractor happens to state
  the fact (its short answer), abstaining would be wrong, so the target is the answer.
  In a share `retrieval.absent_document_share` of these rows no passage of the gold document is
  left either, as when a question's whole document is missing from the sources (test_absent): the
  passages then come from other documents that name the question's words in passing. Without
  these rows the model only saw its abstention beside other passages of the asked-about
  document, and answered 0.80 of test_absent wrongly.
Only the answer tokens carry loss; the passages are prompt.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from docent.config import RetrievalParams
from docent.modeling.prompt import question_with_sources
from docent.retrieval.index import PassageIndex
from docent.retrieval.passages import gold_passages
from docent.text.normalize import states_fact


def with_contexts(rows: Sequence[dict[str, Any]], index: PassageIndex, params: RetrievalParams, abstain: str,
                  seed: int) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Rows whose question is the question turn with passages and whose answer is the RAFT target."""
    counts: Counter[str] = Counter()
    if not params.train_embeddings:
        index = index.lexical()  # distractors by BM25 alone (why: retrieval.train_embeddings in params.yaml)
    by_id = {p.passage_id: p for p in index.passages}
    k = min(params.k, len(index.passages))
    doc_passages = Counter(p.doc_id for p in index.passages)
    out: list[dict[str, Any]] = []
    for row in rows:
        rng = random.Random(f"{seed}:{row.get('id', row['question'])}")
        doc_id = str(row.get("doc_id", ""))
        retrieved = [r.passage for r in index.retrieve(str(row["question"]), k + params.distractor_pool)]
        gold = gold_passages(index.passages, row.get("sent_ids", ()), doc_id)
        answer = str(row["answer"])
        if gold and rng.random() < params.p_gold:
            context = retrieved[:k]
            if not gold & {p.passage_id for p in context}:
                counts["gold_inserted"] += 1
                context = [*context[:k - 1], by_id[min(gold)]]
            if params.gold_position == "random" and len(context) > 1:
                at = next(i for i, p in enumerate(context) if p.passage_id in gold)
                moved = context.pop(at)
                context.insert(rng.randrange(len(context) + 1), moved)
                counts["gold_moved"] += context[at] is not moved
            target = answer
            counts["gold_present"] += 1
        else:
            counts["gold_absent"] += 1
            if doc_id and params.absent_document_share and rng.random() < params.absent_document_share:
                counts["gold_document_absent"] += 1
                # enough candidates that k remain once every passage of the document is out
                pool = k + params.distractor_pool + doc_passages[doc_id]
                retrieved = [r.passage for r in index.retrieve(str(row["question"]), pool)]
                context = [p for p in retrieved if p.doc_id != doc_id][:k]
            else:
                context = [p for p in retrieved if p.passage_id not in gold][:k]
            short = str(row.get("short_answer") or "")
            stated = bool(short) and any(states_fact(p.text, short) for p in context)
            if stated:
                counts["gold_absent_fact_stated_elsewhere"] += 1
            if not stated and rng.random() < params.abstain_share:
                target = abstain
                counts["target_abstain"] += 1
            else:
                target = answer
        out.append({**row, "question": question_with_sources(str(row["question"]), context, abstain),
                    "answer": target, "context_passages": [p.passage_id for p in context]})
    return out, counts

