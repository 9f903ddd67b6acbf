"""The engine on a tiny real model: history budget, refusal without generation, follow-ups, adapters, timeouts."""

from __future__ import annotations

import dataclasses

import pytest
from assistant_fixtures import ABSTAIN, REFUSAL, load_tiny_assistant, tiny_files, train_classifier

from docent.assistant.engine import AnswerTimeout, Assistant
from docent.cli import UserError
from docent.modeling.prompt import prompt_text

HCM = "Who was Hồ Chí Minh?"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    return load_tiny_assistant(tiny_files(tmp_path_factory), train_classifier())


def with_params(assistant: Assistant, **changes) -> Assistant:
    """The same loaded model (and retriever) under other assistant params (its own lock)."""
    return Assistant(assistant.models, assistant.classifier, dataclasses.replace(assistant.params, **changes),
                     assistant.default, retriever=assistant.retriever, retrieval=assistant.retrieval)


def test_history_keeps_newest_turns_within_budget(assistant):
    history = [(f"Who was Lê Lợi {i} ?", f"he was emperor {i} of Vietnam") for i in range(8)]
    question = "When did he die?"
    full = assistant.count_tokens(prompt_text(assistant.tokenizer, question, history))
    alone = assistant.count_tokens(prompt_text(assistant.tokenizer, question))
    per_turn = (full - alone) // len(history)
    budget = alone + 3 * per_turn  # room for exactly three turns
    small = with_params(assistant, max_history_tokens=budget)
    kept = small.fit_history(question, history)
    assert kept == history[-3:]  # the oldest turns went first, order kept
    assert small.count_tokens(prompt_text(small.tokenizer, question, kept)) <= budget
    assert with_params(assistant, max_history_tokens=full).fit_history(question, history) == history
    # a question that alone is over budget is still answered, without history
    assert with_params(assistant, max_history_tokens=32).fit_history(question * 10, history) == []


def test_answer_reports_history_used_and_dropped(assistant):
    history = [(HCM, "a revolutionary"), ("Where was he born?", "in Vietnam")]
    question = "When did he die?"
    budget = assistant.count_tokens(prompt_text(assistant.tokenizer, question, history[1:]))
    stream = with_params(assistant, max_history_tokens=budget).answer(question, history)
    stream.read()
    assert (stream.history_turns_used, stream.history_turns_dropped) == (1, 1)
    assert stream.prompt_tokens == budget


def test_refusal_never_calls_generate(assistant, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("generate called for an unrelated question")

    monkeypatch.setattr(assistant.model, "generate", fail)
    stream = assistant.answer("How do I bake bread?")
    assert list(stream) == [REFUSAL]
    assert stream.refused and stream.text == REFUSAL and stream.completion_tokens == 0
    assert not assistant.judge("How do I bake bread?").related


def test_related_answer_streams_greedily(assistant):
    stream = assistant.answer(HCM)
    pieces = list(stream)
    assert not stream.refused and len(pieces) > 1  # streamed in several pieces
    assert "".join(pieces) == stream.text and stream.text.strip()
    assert 0 < stream.completion_tokens <= assistant.params.max_new_tokens
    assert assistant.answer(HCM).read() == stream.text  # greedy: same question, same answer


def test_follow_up_is_judged_with_the_previous_question(assistant):
    follow_up = "When did he die?"
    assert not assistant.judge(follow_up).related  # alone it names nobody from the domain
    verdict = assistant.judge(follow_up, [(HCM, "a revolutionary")])
    assert verdict.related and verdict.follow_up
    # no referring word: an unrelated question stays refused whatever came before
    assert not assistant.judge("How do I bake bread?", [(HCM, "a revolutionary")]).related
    # refused turns sent back by a client do not count as context
    assert not assistant.answer(follow_up, [("How do I learn to swim?", REFUSAL)]).verdict.related


def test_adapters_switch_on_one_base(assistant):
    from peft import PeftModel

    assert assistant.model_names == ["finetuned", "other", "base"]
    assert isinstance(assistant.model, PeftModel)
    answers = {name: assistant.answer(HCM, model=name).read() for name in assistant.model_names}
    assert len(set(answers.values())) == 3  # each adapter (and none) answers differently
    assistant.answer(HCM, model="other").read()
    assert assistant.model.active_adapter == "other"
    assert assistant.answer(HCM, model="finetuned").read() == answers["finetuned"]  # switching back restores it
    with pytest.raises(UserError, match="unknown; choose one of finetuned, other, base"):
        assistant.answer(HCM, model="gpt-4")


def test_waiting_past_the_deadline_is_a_busy_timeout(assistant):
    quick = with_params(assistant, timeout_s=0.2)
    quick.lock.acquire()  # another answer holds the model
    try:
        stream = quick.answer(HCM)
        with pytest.raises(AnswerTimeout, match="busy"):
            stream.read()
        assert stream.busy and stream.text == ""
        assert quick.judge(HCM).related  # it was refused for time, not for relevance
    finally:
        quick.lock.release()


def test_slow_generation_is_cut_off_at_the_deadline(assistant):
    import time

    slow = with_params(assistant, timeout_s=0.5, max_new_tokens=200)

    def crawl(module, args):
        time.sleep(0.1)  # each forward step (one token) takes 0.1 s

    hook = slow.model.get_base_model().register_forward_pre_hook(crawl)
    try:
        stream = slow.answer(HCM)
        with pytest.raises(AnswerTimeout, match=r"longer than 0\.5 s"):
            stream.read()
    finally:
        hook.remove()
    assert 0 < stream.completion_tokens < 20  # stopped at the deadline, not at max_new_tokens
    assert not slow.lock.locked()


def test_empty_question_is_a_user_error(assistant):
    with pytest.raises(UserError, match="empty"):
        assistant.answer("   ")


def test_reader_leaving_stops_the_generation(assistant):
    import time

    slow = with_params(assistant, max_new_tokens=200)
    hook = slow.model.get_base_model().register_forward_pre_hook(lambda module, args: time.sleep(0.05))
    try:
        stream = slow.answer(HCM)
        pieces = iter(stream)
        assert next(pieces)
        pieces.close()  # a web client disconnected
        ended = stream.join(timeout=30)
    finally:
        hook.remove()
    assert ended and not slow.lock.locked()
    assert stream.completion_tokens < 100  # stopped long before max_new_tokens (200 steps = 10 s)


# ---------------------------------------------------------------- retrieval and sources

LE_LOI = "Who founded the Lê dynasty?"
CAPITAL = "What is the capital of Vietnam?"  # its best passage scores ~0.38, Hồ Chí Minh's ~1.6


@pytest.fixture(scope="module")
def grounded(tmp_path_factory):
    """The tiny assistant answering from the tiny index (params' retrieval: k 3, min_score 0)."""
    return load_tiny_assistant(tiny_files(tmp_path_factory), train_classifier(), retrieve=True)


def with_retrieval(assistant: Assistant, **changes) -> Assistant:
    return Assistant(assistant.models, assistant.classifier, assistant.params, assistant.default,
                     retriever=assistant.retriever, retrieval=dataclasses.replace(assistant.retrieval, **changes))


def test_closed_book_answers_have_no_sources(assistant):
    stream = assistant.answer(HCM)
    stream.read()
    assert not assistant.retrieves and stream.status == "answered" and stream.sources == ()
    assert "Sources:" not in stream.plan.prompt


def test_retrieved_answer_carries_its_sources(grounded, assistant):
    stream = grounded.answer(HCM)
    assert stream.answer is None  # not known before the generation is read
    text = stream.read()
    assert grounded.retrieves and stream.status == "answered" and stream.completion_tokens > 0
    assert stream.answer is not None and stream.answer.text == text.strip()
    [(source, score)] = [(r.passage, r.score) for r in stream.plan.retrieved]  # only its passage matches
    assert source.passage_id == "hcm@0" and score > 0
    assert stream.sources == (source,)
    assert stream.plan.prompt.count("[1] Hồ Chí Minh: Hồ Chí Minh was a Vietnamese revolutionary") == 1
    assert f"If they do not say, reply: {ABSTAIN}" in stream.plan.prompt
    closed = assistant.answer(HCM)
    closed.read()
    assert stream.prompt_tokens > closed.prompt_tokens + 10  # the passage is in the prompt


def test_weak_best_passage_abstains_without_running_the_model(grounded, monkeypatch):
    strict = with_retrieval(grounded, min_score=1.0)

    def fail(*args, **kwargs):
        raise AssertionError("generate called for a question the sources do not cover")

    monkeypatch.setattr(grounded.model, "generate", fail)
    stream = strict.answer(CAPITAL)
    assert list(stream) == [ABSTAIN]  # one fixed piece, no tokens generated
    assert stream.status == "abstained" and stream.verdict.related and not stream.refused
    assert stream.completion_tokens == 0 and stream.sources == () and stream.plan.prompt is None
    assert 0 < stream.plan.retrieved[0].score < 1.0  # something was found, but too weak
    # nothing at all retrieved (no word of the question is indexed): abstained even at min_score 0
    nothing = grounded.answer("Who were the Trưng sisters?")
    assert nothing.read() == ABSTAIN and nothing.status == "abstained" and nothing.plan.retrieved == ()
    monkeypatch.undo()
    answered = strict.answer(HCM)  # above min_score: the model runs
    answered.read()
    assert answered.status == "answered" and answered.completion_tokens > 0


def test_follow_up_retrieves_with_the_earlier_question(grounded):
    follow_up = "When did he die?"
    alone = grounded.retriever.retrieve(follow_up, 3)
    assert alone[0].passage.passage_id == "leloi@0"  # "died" twice: alone it finds the wrong man
    history = [(HCM, "a revolutionary")]
    assert grounded.search_text(follow_up, history) == f"{HCM} {follow_up}"
    stream = grounded.answer(follow_up, history)
    stream.read()
    assert stream.verdict.follow_up and stream.status == "answered"
    assert stream.plan.retrieved[0].passage.passage_id == "hcm@0"
    assert stream.plan.prompt.index("[1] Hồ Chí Minh:") < stream.plan.prompt.index(f"Question: {follow_up}")
    # a new question (no referring word) searches alone: the earlier entity does not leak in
    other = grounded.answer(LE_LOI, history)
    other.read()
    assert grounded.search_text(LE_LOI, history) == LE_LOI
    assert [r.passage.passage_id for r in other.plan.retrieved] == ["leloi@0"]


def test_passages_count_against_the_history_budget(grounded):
    history = [(HCM, "a revolutionary"), ("Where was he born?", "in Vietnam")]
    question = "When did he die?"
    probe = grounded.answer(question, history)
    probe.read()
    budget = grounded.count_tokens(prompt_text(grounded.tokenizer, probe.plan.turn, history[1:]))
    assert budget > grounded.count_tokens(prompt_text(grounded.tokenizer, question, history))  # passages weigh
    stream = with_params(grounded, max_history_tokens=budget).answer(question, history)
    stream.read()
    assert (stream.history_turns_used, stream.history_turns_dropped) == (1, 1)
    assert stream.prompt_tokens == budget


def test_index_built_differently_is_refused(tmp_path):
    import json

    from assistant_fixtures import build_index, retrieval_params

    from docent.assistant.engine import load_assistant_index

    params = retrieval_params()
    other = build_index(tmp_path / "other", passage_words=7)
    with pytest.raises(UserError, match=rf"passage_words = 7, but this run has {params.passage_words}; "
                                        r"run `dvc repro index`"):
        load_assistant_index(other, params)
    index = build_index(tmp_path / "index")
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest["versions"]["bm25s"] = "0.0.1"
    (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(UserError, match=r"built with versions = .*0\.0\.1.*; run `dvc repro index`"):
        load_assistant_index(index, params)
    with pytest.raises(UserError, match=r"missing; run `dvc repro index` \(or answer closed-book with --no-retr"):
        load_assistant_index(tmp_path / "nowhere", params)


def test_the_assistant_decodes_under_the_abstention_floor(grounded, monkeypatch):
    """retrieval.abstain_min_prob reaches generate() as an AbstentionFloor on the abstention's first
    token, the same processor evaluate uses; at 0 no processor runs."""
    from docent.modeling.generation import AbstentionFloor
    from docent.modeling.prompt import abstain_token_id

    seen: list[list] = []
    generate = grounded.model.generate

    def spy(*args, **kwargs):
        seen.append(list(kwargs.get("logits_processor") or []))
        return generate(*args, **kwargs)

    monkeypatch.setattr(grounded.model, "generate", spy)
    grounded.answer(HCM).read()
    with_retrieval(grounded, abstain_min_prob=0.6).answer(HCM).read()
    assert seen[0] == []
    [floor] = seen[1]
    assert isinstance(floor, AbstentionFloor) and floor.min_prob == 0.6
    assert floor.token_id == abstain_token_id(grounded.tokenizer, ABSTAIN)
    assert len(floor.first_probs) == 1  # it ran at the first answer position


def test_select_mode_streams_a_source_sentence_or_the_abstention(grounded, monkeypatch):
    """retrieval.answer_mode select: no generate() call; the answer is one of the plan's candidates,
    streamed as one piece, with its sources; waiting past the deadline is the same busy timeout."""
    from docent.assistant.answer import passage_sentences

    def no_generate(*args, **kwargs):
        raise AssertionError("select mode must not generate")

    monkeypatch.setattr(grounded.model, "generate", no_generate)
    selecting = with_retrieval(grounded, answer_mode="select")
    stream = selecting.answer(HCM)
    pieces = list(stream)
    assert len(pieces) == 1 and stream.text in stream.plan.candidates
    sentences = [s for r in stream.plan.retrieved for s in passage_sentences(r.passage.text)]
    assert stream.plan.candidates == (*sentences, ABSTAIN)
    if stream.status == "answered":
        assert stream.sources and any(stream.text in s.text for s in stream.sources)
    else:
        assert stream.status == "abstained" and stream.sources == ()
    assert not selecting.lock.locked()
    selecting.lock.acquire()
    try:
        busy = with_params(selecting, timeout_s=0.2)
        busy.lock = selecting.lock
        with pytest.raises(AnswerTimeout, match="busy"):
            busy.answer(HCM).read()
    finally:
        selecting.lock.release()


def test_the_assistant_index_ranks_with_the_answer_type_bonus_of_its_params(tmp_path):
    """retrieval.answer_type_bonus is a query-time setting: not in the index's manifest, so an index
    built before it changed still loads, and the assistant's copy ranks with the params' value."""
    import dataclasses

    from assistant_fixtures import build_index, retrieval_params

    from docent.assistant.engine import load_assistant_index

    index = build_index(tmp_path / "index")
    for bonus in (0.0, 0.2):
        params = dataclasses.replace(retrieval_params(), answer_type_bonus=bonus)
        assert load_assistant_index(index, params).answer_type_bonus == bonus
