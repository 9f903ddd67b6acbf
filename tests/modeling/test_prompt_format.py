"""The one prompt format: chat template when present, plain template otherwise; answer-only labels."""

from __future__ import annotations

from tiny_models import build_tiny_tokenizer

from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels, answer_suffix, prompt_text, stop_token_ids


def test_chat_template_prompt_and_end_of_turn():
    tok = build_tiny_tokenizer()
    prompt = prompt_text(tok, "who was Hồ Chí Minh ?", history=[("who was Lê Lợi ?", "emperor .")])
    assert prompt.endswith("<|im_start|>assistant\n")
    assert prompt.index("Lê Lợi") < prompt.index("Hồ Chí Minh")
    assert answer_suffix(tok) == "<|im_end|>"
    assert stop_token_ids(tok) == [tok.convert_tokens_to_ids("<|im_end|>")]


def test_labels_cover_exactly_the_answer_and_end_token():
    tok = build_tiny_tokenizer()
    ex = answer_only_labels(tok, "who was Hồ Chí Minh ?", "Hồ Chí Minh was president .", max_len=128)
    kept = [t for t, label in zip(ex["input_ids"], ex["labels"], strict=True) if label != IGNORE_INDEX]
    assert tok.decode(kept) == "Hồ Chí Minh was president . <|im_end|>"
    assert ex["labels"][: len(ex["labels"]) - len(kept)] == [IGNORE_INDEX] * (len(ex["labels"]) - len(kept))


def test_too_long_example_is_reported_not_truncated():
    tok = build_tiny_tokenizer()
    assert answer_only_labels(tok, "who was Hồ Chí Minh ?", "was " * 50, max_len=20) is None


def test_plain_template_without_chat_template():
    tok = build_tiny_tokenizer(chat_template=None)
    assert prompt_text(tok, "who ?") == "### Question:\nwho ?\n\n### Answer:\n"
    ex = answer_only_labels(tok, "who ?", "he .", max_len=64)
    kept = [t for t, label in zip(ex["input_ids"], ex["labels"], strict=True) if label != IGNORE_INDEX]
    assert tok.convert_ids_to_tokens(kept)[-1] == tok.eos_token


def test_default_system_prompt_is_replaced_by_an_empty_one():
    """A SmolLM2-style template injects its own system prompt; we send an empty system turn instead."""
    injecting = (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    tok = build_tiny_tokenizer(chat_template=injecting)
    prompt = prompt_text(tok, "who ?")
    assert prompt.startswith("<|im_start|>system\n<|im_end|>\n<|im_start|>user\nwho ?")
    assert "helpful" not in prompt
    # a template without a default system prompt is left alone
    assert not prompt_text(build_tiny_tokenizer(), "who ?").startswith("<|im_start|>system")
