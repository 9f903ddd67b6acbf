"""The one answer path (docent.assistant.answer): gate, retrieval, prompt, answer, sources."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.test_index import rows as corpus_rows
from tiny_models import build_tiny_llama, build_tiny_tokenizer

from docent.assistant.answer import SELECT_TOKENS, AnswerPath, drawn_on, is_abstention, passage_sentences
from docent.retrieval.index import PassageIndex
from docent.retrieval.passages import build_passages

ABSTAIN = "I don't find that in my sources about Vietnamese history."


@pytest.fixture(scope="module")
def index() -> PassageIndex:
    return PassageIndex.build(build_passages(corpus_rows(), passage_words=12), {"passage_words": 12})


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def path(tokenizer, index, **kw) -> AnswerPath:
    return AnswerPath(tokenizer, retriever=index, k=kw.pop("k", 2), min_score=kw.pop("min_score", 0.0),
                      abstain=ABSTAIN, refusal="Sorry.", **kw)


def test_plan_puts_the_retrieved_passages_in_the_prompt(tokenizer, index) -> None:
    plan = path(tokenizer, index).plan("when was hue the capital")
    assert plan.prompt is not None and plan.status == "answered"
    assert plan.passages[0].doc_id == "hue" and len(plan.passages) == 2
    assert "[1] Huế: Huế was the imperial capital" in plan.prompt
    assert "Question: when was hue the capital" in plan.prompt
    closed = AnswerPath(tokenizer, retriever=None, k=2, min_score=0.0, abstain=ABSTAIN).plan("when was hue the capital")
    assert closed.prompt is not None and "Sources" not in closed.prompt and closed.passages == []


def test_below_min_score_abstains_without_a_prompt(tokenizer, index) -> None:
    best = index.retrieve("when was hue the capital", 1)[0].score
    plan = path(tokenizer, index, min_score=best + 0.01).plan("when was hue the capital")
    assert plan.prompt is None
    answer = path(tokenizer, index, min_score=best + 0.01).finish(plan, "never used")
    assert (answer.text, answer.status, answer.sources) == (ABSTAIN, "abstained", ())
    nothing = path(tokenizer, index).plan("the of and")  # retrieves nothing at all
    assert nothing.prompt is None and nothing.status == "abstained"


def test_below_min_query_match_abstains_without_a_prompt(tokenizer, index) -> None:
    """A question whose rare words the best passage lacks (they are in other documents) gets the
    abstention, however well its other words score; words indexed nowhere are not weighed."""
    question = "was hue the capital of the rice delta"
    best = index.retrieve(question, 1)[0]
    assert 0.0 < best.match < 1.0
    plan = path(tokenizer, index, min_query_match=best.match + 0.01).plan(question)
    assert plan.prompt is None and plan.status == "abstained" and plan.reply == ABSTAIN
    assert path(tokenizer, index, min_query_match=best.match).plan(question).prompt is not None
    assert path(tokenizer, index, min_query_match=1.0).plan("when was hue the capital").prompt is not None
    assert path(tokenizer, index, min_query_match=1.0).plan("when was hue the capital of xanadu").prompt is not None


def test_min_similarity_lets_a_question_in_other_words_through(tokenizer) -> None:
    """BM25's floors turn away a question that shares no word with the sources; a passage whose
    embedding is at least `min_similarity` close to the question's lets it reach the model."""
    from retrieval.test_index import EMBEDDED

    hybrid = PassageIndex.build(build_passages(corpus_rows(), passage_words=5), EMBEDDED)
    question = "which women revolted"
    best = hybrid.retrieve(question, 2)
    assert best[0].score == 0.0 and best[0].similarity is not None and best[0].similarity > 0.25
    floors = {"min_score": 1.0, "min_query_match": 0.5}
    assert path(tokenizer, hybrid, **floors, min_similarity=1.0).plan(question).prompt is None
    through = path(tokenizer, hybrid, **floors, min_similarity=best[0].similarity).plan(question)
    assert through.prompt is not None and through.passages[0].doc_id == "trung"
    assert path(tokenizer, hybrid, **floors, min_similarity=best[0].similarity + 0.01).plan(question).prompt is None
    # the lexical floors still pass on their own when the best BM25 passage clears them
    assert path(tokenizer, hybrid, **floors, min_similarity=1.0).plan("when was hue the capital").prompt is not None


def test_gate_refuses_before_retrieval(tokenizer, index) -> None:
    gated = path(tokenizer, index, gate=lambda q: "bread" not in q)
    plan = gated.plan("how do I bake bread")
    assert (plan.prompt, plan.status, plan.retrieved) == (None, "refused", ())
    assert gated.finish(plan).text == "Sorry."
    assert gated.plan("when was hue the capital").status == "answered"
    # the caller's verdict wins (here: admitted, then nothing retrieved for bread)
    assert gated.plan("how do I bake bread", admitted=True).status == "abstained"


def test_finish_names_the_sources_an_answer_draws_on(tokenizer, index) -> None:
    p = path(tokenizer, index, k=3)
    plan = p.plan("which river runs through the citadel of hue and the red river delta")
    answer = p.finish(plan, "The citadel of Huế sits on the Perfume River.")
    assert answer.status == "answered" and [s.passage_id for s in answer.sources] == ["hue@1"]
    assert p.finish(plan, "I don't find that in my sources.").status == "abstained"
    assert is_abstention("I don't find that in my sources about Hanoi.", ABSTAIN)
    assert not is_abstention("I found it: Hanoi.", ABSTAIN)
    assert drawn_on("Completely unrelated words", plan.passages) == (plan.passages[0],)


def test_tiny_model_answers_through_the_path(tokenizer, index) -> None:
    from docent.modeling.generation import generate_answers
    from docent.modeling.prompt import stop_token_ids

    model = build_tiny_llama(len(tokenizer)).eval()
    p = path(tokenizer, index)
    plans = [p.plan(q) for q in ("when was hue the capital", "who led a rebellion in AD 40")]
    gens = generate_answers(model, tokenizer, [pl.prompt for pl in plans], max_new_tokens=8, batch_size=2,
                            stop_ids=stop_token_ids(tokenizer))
    answers = [p.finish(pl, g.text) for pl, g in zip(plans, gens, strict=True)]
    for pl, a in zip(plans, answers, strict=True):
        assert a.status in ("answered", "abstained") and a.retrieved == pl.retrieved
        assert set(a.sources) <= set(pl.passages)
        assert a.best_score == pl.retrieved[0].score > 0


def test_abstain_floor_names_the_abstentions_first_token(tokenizer, index) -> None:
    """retrieval.abstain_min_prob 0 keeps greedy decoding as it is; above 0 generation gets the
    token an abstaining answer opens with and the floor under it."""
    assert path(tokenizer, index).abstain_floor is None
    token, floor = path(tokenizer, index, abstain_min_prob=0.5).abstain_floor
    assert floor == 0.5
    assert token == tokenizer(ABSTAIN, add_special_tokens=False)["input_ids"][0]
    silent = AnswerPath(tokenizer, retriever=index, k=2, min_score=0.0, abstain="", abstain_min_prob=0.5)
    assert silent.abstain_floor is None


def test_passage_sentences_finds_the_joined_sentences_again() -> None:
    text = ("Hồ Chí Minh was born in 1890. Was he a poet? He wrote poems. The U.S. Army left in 1973. "
            "John F. Kennedy sent advisers. It fell c. 1400 to the Ming.")
    assert passage_sentences(text) == [
        "Hồ Chí Minh was born in 1890.", "Was he a poet? He wrote poems.",  # "He wrote poems." is too short alone
        "The U.S. Army left in 1973.", "John F. Kennedy sent advisers.", "It fell c. 1400 to the Ming."]
    assert passage_sentences("A single sentence without a full stop") == ["A single sentence without a full stop"]


def test_select_mode_plans_the_passages_sentences_and_the_abstention(tokenizer, index) -> None:
    p = path(tokenizer, index, answer_mode="select")
    plan = p.plan("when was hue the capital")
    sentences = [s for r in plan.retrieved for s in passage_sentences(r.passage.text)]
    assert plan.candidates == (*dict.fromkeys(sentences), ABSTAIN) and len(plan.candidates) >= 3
    # generation plans none, and closed-book never selects (there is nothing to select from)
    assert path(tokenizer, index).plan("when was hue the capital").candidates == ()
    assert AnswerPath(tokenizer, retriever=None, k=2, min_score=0.0, abstain=ABSTAIN,
                      answer_mode="select").answer_mode == "generate"


def test_select_answers_with_the_candidate_the_model_finds_likeliest(tokenizer, index) -> None:
    import torch

    from docent.modeling.generation import answer_nll

    torch.manual_seed(0)
    model = build_tiny_llama(len(tokenizer)).eval()
    p = path(tokenizer, index, k=3, answer_mode="select")
    for question in ("when was hue the capital", "who led a rebellion in AD 40", "which river runs through hue"):
        plan = p.plan(question)
        chosen = p.select(model, plan, batch_size=3, max_len=2048)
        nlls = answer_nll(model, tokenizer, [(plan.turn, c) for c in plan.candidates], batch_size=1, max_len=2048,
                          answer_tokens=SELECT_TOKENS)
        assert all(n.tokens <= SELECT_TOKENS for n in nlls)
        best = min(range(len(nlls)), key=lambda k: (nlls[k].nll, k))
        assert chosen == plan.candidates[best]
        answer = p.finish(plan, chosen)
        if chosen == ABSTAIN:
            assert (answer.status, answer.sources) == ("abstained", ())
        else:  # a source sentence word for word, and the passage it came from is a source
            assert answer.status == "answered"
            assert any(chosen in s.text for s in answer.sources)
    with pytest.raises(ValueError, match="no candidates"):
        path(tokenizer, index).select(model, path(tokenizer, index).plan("when was hue the capital"), 2, 2048)
