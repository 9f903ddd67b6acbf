"""The engine on a tiny real model: history budget, refusal without generation, follow-ups, adapters, timeouts."""

from __future__ import annotations

import dataclasses

import pytest
from assistant_fixtures import REFUSAL, load_tiny_assistant, tiny_files, train_classifier

from docent.assistant.engine import AnswerTimeout, Assistant
from docent.cli import UserError
from docent.modeling.prompt import prompt_text

HCM = "Who was Hồ Chí Minh?"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    return load_tiny_assistant(tiny_files(tmp_path_factory), train_classifier())


def with_params(assistant: Assistant, **changes) -> Assistant:
    """The same loaded model under other assistant params (its own lock)."""
    return Assistant(assistant.model, assistant.tokenizer, assistant.classifier,
                     dataclasses.replace(assistant.params, **changes), assistant.adapters,
                     assistant.default, assistant.no_adapter_name)


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
        stream._thread.join(timeout=30)
    finally:
        hook.remove()
    assert not stream._thread.is_alive() and not slow.lock.locked()
    assert stream.completion_tokens < 100  # stopped long before max_new_tokens (200 steps = 10 s)
