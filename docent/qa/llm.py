"""The `llm` generator: an instruction-tuned causal LM writes question/answer pairs as JSON.

Each sentence (with its document title for context) is one passage and one fact; the model is asked
for `per_fact` differently worded questions about it. Nothing the model writes is trusted: every
pair must parse; then it goes through the selection step the rules generator uses too
(docent/qa/selection.py): the answer must read as a complete sentence grounded in the passage (share
`min_overlap` of its content tokens with it), the question as a well-formed question, the short answer
must be stated by the answer, the question must be new, and up to `per_fact` valid pairs are kept,
different forms first. Rejects are counted by reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from docent.qa.grounding import question_type
from docent.qa.records import QAPair, Sentence
from docent.qa.selection import Candidate, Proposal, Selection

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


def proposal_of(item: Any, short_answers: bool = True) -> tuple[Proposal | None, str | None]:
    """((answer, [candidate]), None) for one pair the model wrote, or (None, reason) if it is not one.
    Whether it is kept is the shared selection step's call (docent/qa/selection.py)."""
    if not isinstance(item, dict):
        return None, "not_an_object"
    question, answer, short = item.get("question"), item.get("answer"), item.get("short_answer")
    if not all(isinstance(v, str) and v.strip() for v in (question, answer, *([short] if short_answers else []))):
        return None, "missing_field"
    question, answer, short = (" ".join(str(v or "").split()) for v in (question, answer, short))
    return (answer, [Candidate(question_type(question), question, short, allow_possessive=True)]), None


class LLMGenerator:
    def __init__(self, model: Any, tokenizer: PreTrainedTokenizerBase, per_fact: int,
                 min_overlap: float, max_new_tokens: int, max_answer_words: int, batch_size: int = 8,
                 colloquial: int = 0):
        self.model = model
        self.tokenizer = tokenizer
        self.per_fact = per_fact
        self.min_overlap = min_overlap
        self.max_new_tokens = max_new_tokens
        self.max_answer_words = max_answer_words
        self.batch_size = batch_size
        self.colloquial = colloquial

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
        selection = Selection(self.per_fact, self.max_answer_words, self.min_overlap, short_answers, counts,
                              colloquial=self.colloquial)
        usable = [s for s in sentences if s.text.strip()]
        counts["rejected_empty_sentence"] += len(sentences) - len(usable)
        prompts = [build_prompt(self.tokenizer, s.title, s.text, self.per_fact) for s in usable]
        pairs: list[QAPair] = []
        for sentence, output in zip(usable, self.complete(prompts), strict=True):
            items = parse_pairs(output)
            if items is None:
                counts["rejected_unparseable"] += 1
                counts["sentences_without_question"] += 1
                continue
            proposals: list[Proposal] = []
            for item in items:
                proposal, reason = proposal_of(item, short_answers)
                if proposal is None:
                    counts[f"rejected_{reason}"] += 1
                else:
                    proposals.append(proposal)
            kept = selection.keep(proposals, sentence.text, sentence.title, sentence.section,
                                  sentence.doc_id.partition(":")[0])
            for answer, cand in kept:
                pairs.append(QAPair(question=cand.question, answer=answer, short_answer=cand.short,
                                    doc_id=sentence.doc_id, sent_ids=(sentence.sent_id,), fact_id=sentence.key,
                                    qtype=cand.qtype, generator=GENERATOR,
                                    variant_of=cand.variant_of))
            if not kept:
                counts["sentences_without_question"] += 1
        return pairs, counts
