"""The one prompt format, shared by finetune, evaluate and the assistant.

Models with a chat template get it (the model was instruction-tuned on that format);
others get a plain "### Question / ### Answer" template. Training appends the end-of-turn
token to every answer and computes the loss on answer tokens only, so the fine-tuned model
learns to stop exactly where generation looks for the stop token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PLAIN_QUESTION = "### Question:\n{question}\n\n### Answer:\n"
IGNORE_INDEX = -100  # label value the cross-entropy loss skips
# With retrieved passages the question turn carries them, numbered, before the question. The same
# words at training time, in evaluation and in the assistant; the instruction lets an untrained
# base model (the base + retrieval row) know what is asked of it, abstention included.
SOURCES_INSTRUCTION = "Answer from the sources. If they do not say, reply: {abstain}"

Turn = tuple[str, str]  # (question, answer)


class Source(Protocol):
    """Anything with a title and a text (read-only, so frozen dataclasses such as Passage fit)."""

    @property
    def title(self) -> str: ...

    @property
    def text(self) -> str: ...


def question_with_sources(question: str, passages: Sequence[Source] = (), abstain: str = "") -> str:
    """The question turn: the bare question closed-book, else the instruction, the numbered passages
    and the question ("Answer from the sources. ...\nSources:\n[1] Hanoi: ...\n\nQuestion: ...")."""
    if not passages:
        return question
    sources = "\n".join(f"[{i}] {p.title}: {p.text}" for i, p in enumerate(passages, start=1))
    # the instruction first: every prompt then opens with the same tokens, which evaluation
    # computes once for all of them (generation.SharedPrefix)
    return f"{SOURCES_INSTRUCTION.format(abstain=abstain)}\nSources:\n{sources}\n\nQuestion: {question}"


def abstain_token_id(tokenizer: PreTrainedTokenizerBase, abstain: str) -> int | None:
    """The first token of the abstention as an answer writes it (None: no abstention text)."""
    ids = tokenizer(abstain.strip(), add_special_tokens=False)["input_ids"] if abstain.strip() else []
    return int(ids[0]) if ids else None


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def injects_default_system_prompt(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the chat template adds its own system prompt when the messages have none.

    SmolLM2's adds "You are a helpful AI assistant named SmolLM, trained by Hugging Face": 16 of
    the ~74 tokens of a typical training example here, spent on every example, every epoch and
    every generated answer. We pass an empty system turn instead (the same at training and
    inference, so nothing is lost). Templates without a default, or that reject a system role,
    are left as they are.
    """
    if not has_chat_template(tokenizer):
        return False
    probe = "\x00QUESTION\x00"
    rendered = cast(str, tokenizer.apply_chat_template([{"role": "user", "content": probe}], tokenize=False))
    return "system" in rendered.split(probe, 1)[0]


def chat_messages(question: str, history: Sequence[Turn] = (), empty_system: bool = False) -> list[dict[str, str]]:
    """Earlier turns (or few-shot examples) first, then the question."""
    messages: list[dict[str, str]] = [{"role": "system", "content": ""}] if empty_system else []
    for q, a in history:
        messages.append({"role": "user", "content": q})
        messages.append({"role": "assistant", "content": a})
    messages.append({"role": "user", "content": question})
    return messages


def prompt_text(tokenizer: PreTrainedTokenizerBase, question: str, history: Sequence[Turn] = ()) -> str:
    """Everything up to where the model starts answering."""
    if has_chat_template(tokenizer):
        messages = chat_messages(question, history, injects_default_system_prompt(tokenizer))
        return cast(str, tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    plain = "".join(PLAIN_QUESTION.format(question=q) + a + "\n\n" for q, a in history)
    return plain + PLAIN_QUESTION.format(question=question)


def answer_suffix(tokenizer: PreTrainedTokenizerBase) -> str:
    """What closes an answer: the chat template's end-of-turn text, else the EOS token."""
    if has_chat_template(tokenizer):
        probe = "\x00ANSWER\x00"
        full = cast(str, tokenizer.apply_chat_template(
            [*chat_messages("q"), {"role": "assistant", "content": probe}], tokenize=False
        ))
        tail = full.split(probe, 1)[1] if probe in full else ""
        # keep the end-of-turn marker, drop the newline some templates put after it
        tail = tail.rstrip("\n")
        if tail:
            return tail
    return tokenizer.eos_token or ""


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids that end generation: EOS and the chat template's end-of-turn token."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    suffix = answer_suffix(tokenizer)
    if suffix:
        suffix_ids = tokenizer(suffix, add_special_tokens=False)["input_ids"]
        if suffix_ids:
            ids.add(int(suffix_ids[0]))
    return sorted(ids)


def answer_only_labels(
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    answer: str,
    max_len: int,
) -> dict[str, list[int]] | None:
    """Token ids for prompt + answer + end token, labels masked (-100) on the prompt.

    Tokenised as one string (so tokens at the prompt/answer boundary are what the model
    will see at inference), then split by character offset. Returns None when the example
    does not fit in `max_len` tokens with its end token: callers count it, never truncate
    an answer silently (a truncated answer would teach the model not to stop).
    """
    prompt = prompt_text(tokenizer, question)
    full = prompt + answer.strip() + answer_suffix(tokenizer)
    enc: Any = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(enc["input_ids"])
    if len(input_ids) > max_len:
        return None
    cut = len(prompt)
    offsets = enc["offset_mapping"]
    labels = [tid if start >= cut else IGNORE_INDEX for tid, (start, _end) in zip(input_ids, offsets, strict=True)]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return {"input_ids": input_ids, "labels": labels}
