"""The `llm` generator: an instruction-tuned causal LM writes question/answer pairs as JSON.

Each sentence (with its document title for context) is one passage and one fact; the model is asked
for `per_fact` differently worded questions about it. Nothing the model writes is trusted: every
pair must parse, read as a question and a complete sentence, be grounded in the passage (share
`min_overlap` of its content tokens with it) and be new. Rejects are counted by reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from docent.qa.grounding import (
    answer_problem,
    normalize_text,
    question_problem,
    question_type,
    short_answer_problem,
    token_overlap,
)
from docent.qa.records import QAPair, Sentence

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

GENERATOR = "llm"
INSTRUCTION = (
    "Read the passage about {title}. Write {n} different questions that the passage answers, each asked "
    "in a different way (who/what/when/where), naming the subject. Answer each with one complete, short "
    "sentence taken from the passage, and give the short answer: the exact words of the passage the "
    "question asks for (a name, a date, a number). Reply with JSON only: "
    '[{{"question": "...", "answer": "...", "short_answer": "..."}}]\n\nPassage: {passage}'
)
_JSON_ARRAY = re.compile(r"\[.*\]", re.DOTALL)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def build_prompt(tokenizer: PreTrainedTokenizerBase, title: str, passage: str, n: int) -> str:
    text = INSTRUCTION.format(title=title, passage=passage, n=n)
    if getattr(tokenizer, "chat_template", None):
        return cast(str, tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                       add_generation_prompt=True))
    return text + "\n\nJSON:\n"


def parse_pairs(text: str) -> list[Any] | None:
    """The JSON list the model wrote (or the objects it wrote one by one); None if nothing parses."""
    match = _JSON_ARRAY.search(text)
    if match:
        try:
            value = json.loads(match.group(0))
            return value if isinstance(value, list) else [value]
        except json.JSONDecodeError:
            pass
    items = []
    for obj in _JSON_OBJECT.findall(text):
        try:
            items.append(json.loads(obj))
        except json.JSONDecodeError:
            continue
    return items or None


def validate_pair(item: Any, passage: str, min_overlap: float, max_answer_words: int,
                  seen: set[str], short_answers: bool = True) -> tuple[tuple[str, str, str] | None, str | None]:
    """((question, answer, short_answer), None) for a pair to keep, or (None, reason)."""
    if not isinstance(item, dict):
        return None, "not_an_object"
    question, answer, short = item.get("question"), item.get("answer"), item.get("short_answer")
    if not all(isinstance(v, str) and v.strip() for v in (question, answer, *([short] if short_answers else []))):
        return None, "missing_field"
    question, answer, short = (" ".join(str(v or "").split()) for v in (question, answer, short))
    problem = question_problem(question, allow_possessive=True) or answer_problem(answer, max_answer_words) \
        or (short_answers and short_answer_problem(short, question, answer)) or None
    if problem:
        return None, problem
    if token_overlap(answer, passage) < min_overlap:
        return None, "not_grounded"
    if normalize_text(question) in seen:
        return None, "duplicate_question"
    return (question, answer, short), None


class LLMGenerator:
    def __init__(self, model: Any, tokenizer: PreTrainedTokenizerBase, per_fact: int,
                 min_overlap: float, max_new_tokens: int, max_answer_words: int, batch_size: int = 8):
        self.model = model
        self.tokenizer = tokenizer
        self.per_fact = per_fact
        self.min_overlap = min_overlap
        self.max_new_tokens = max_new_tokens
        self.max_answer_words = max_answer_words
        self.batch_size = batch_size

    def complete(self, prompts: Sequence[str]) -> list[str]:
        """Greedy decoding (deterministic), left-padded batches."""
        import torch

        tokenizer = self.tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        device = next(self.model.parameters()).device
        outputs: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = tokenizer(list(prompts[start:start + self.batch_size]), return_tensors="pt", padding=True,
                              add_special_tokens=False).to(device)
            with torch.no_grad():
                generated = self.model.generate(
                    **batch, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            new_tokens = generated[:, batch["input_ids"].shape[1]:]
            outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return outputs

    def generate(self, sentences: Sequence[Sentence],
                 short_answers: bool = True) -> tuple[list[QAPair], Counter[str]]:
        counts: Counter[str] = Counter()
        usable = [s for s in sentences if s.text.strip()]
        counts["rejected_empty_sentence"] += len(sentences) - len(usable)
        prompts = [build_prompt(self.tokenizer, s.title, s.text, self.per_fact) for s in usable]
        pairs: list[QAPair] = []
        seen: set[str] = set()
        for sentence, output in zip(usable, self.complete(prompts), strict=True):
            items = parse_pairs(output)
            if items is None:
                counts["rejected_unparseable"] += 1
                counts["sentences_without_question"] += 1
                continue
            kept = 0
            for item in items:
                if kept == self.per_fact:
                    counts["candidates_beyond_per_fact"] += 1
                    continue
                pair, reason = validate_pair(item, sentence.text, self.min_overlap, self.max_answer_words, seen,
                                             short_answers)
                if pair is None:
                    counts[f"rejected_{reason}"] += 1
                    continue
                question, answer, short = pair
                seen.add(normalize_text(question))
                kept += 1
                pairs.append(QAPair(question=question, answer=answer, short_answer=short, doc_id=sentence.doc_id,
                                    sent_ids=(sentence.sent_id,), fact_id=sentence.key,
                                    qtype=question_type(question), generator=GENERATOR))
            if not kept:
                counts["sentences_without_question"] += 1
        return pairs, counts
