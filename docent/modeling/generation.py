"""Batched greedy generation and teacher-forced answer perplexity.

Generation pads on the LEFT, so every row's last prompt token sits in the last column and the
next token is read from the same place for the whole batch; the attention mask hides the pads
and position ids are derived from it, so a padded row gets the same tokens as when run alone
(tests/modeling checks this against generate()). Rows are sorted by prompt length before
batching so a batch holds prompts of similar length (little padding), and returned in the
caller's order. The KV cache is on, so each new token costs one position, not the whole prefix.

The decoding loop is ours rather than generate()'s for one reason: a row that has written its
stop token leaves the batch (its cache rows are dropped). generate() keeps computing every row
until the last one stops, so one answer that runs to max_new_tokens made its 31 neighbours pay
for 96 steps. On the default run's 192 first test_unseen + test prompts with passages (batch 32,
2 cores): fine-tuned 77.6 s -> 65.6 s, base 109.6 s -> 89.1 s, 191 of 192 answers identical to
generate()'s (the other one differs in a character cut at max_new_tokens). It is plain greedy:
a checkpoint's generation_config (repetition penalty, ...) is not applied, here or in training's
BLEU callback; the assistant's streamed generate() passes do_sample=False and the same floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("tokenizer has neither a pad nor an EOS token")
    return int(pad)


def _batches_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length (longest first, ties by index: deterministic)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


@dataclass(frozen=True)
class Generation:
    """One generated answer; `hit_limit` when it ran to max_new_tokens without a stop token;
    `token_ids`: the generated tokens, the stop token included when one was written;
    `abstain_prob`: the model's probability of the abstention's first token at the first answer
    position (None when no AbstentionFloor ran); `floored`: the abstention was the likeliest
    first token but under the floor, so the model answered instead (counted in evaluate)."""

    text: str
    hit_limit: bool
    abstain_prob: float | None = None
    floored: bool = False
    token_ids: tuple[int, ...] = ()


class AbstentionFloor:
    """A generate() logits processor: the model may open its answer with the abstention only when
    it gives the abstention's first token at least `min_prob` (retrieval.abstain_min_prob).

    A greedy decoder abstains whenever that token is merely the likeliest, even at 0.3 against an
    answer spread over many tokens; below the floor the token is masked at the first answer
    position, so the model writes its best answer instead. 0 keeps the greedy choice. The
    probabilities seen are kept (`first_probs`, per row of the batch) so callers can report them.
    """

    def __init__(self, token_id: int, min_prob: float) -> None:
        self.token_id = token_id
        self.min_prob = min_prob
        self.prompt_width: int | None = None
        self.first_probs: list[float] = []
        self.floored: list[bool] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_width is None:  # the first call sees the prompt alone
            self.prompt_width = int(input_ids.shape[1])
        if int(input_ids.shape[1]) != self.prompt_width:
            return scores
        probs = scores.float().softmax(dim=-1)[:, self.token_id]
        low = probs < self.min_prob
        self.first_probs = [float(x) for x in probs]
        self.floored = [bool(x) for x in low & (scores.argmax(dim=-1) == self.token_id)]
        scores = scores.clone()
        scores[low, self.token_id] = float("-inf")
        return scores


def _accepts_logits_to_keep(model: Any) -> bool:
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


def greedy_decode(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, cache: Any,
                  max_new_tokens: int, stop_ids: Sequence[int],
                  floor: AbstentionFloor | None = None) -> list[list[int]]:
    """Greedy tokens for each row of a left-padded batch (the stop token included when written).

    `cache`: a DynamicCache already holding the first cache.get_seq_length() columns (the shared
    prefix), or None (the model makes its own). Each step feeds every unfinished row its last
    token; a row that wrote a stop token is removed from the batch, cache included
    (DynamicCache.batch_select_indices). Positions follow the attention mask's running count, as
    generate() numbers them.
    """
    import torch

    cached = cache.get_seq_length() if cache is not None else 0
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    stop = torch.tensor(sorted(set(int(s) for s in stop_ids)), dtype=torch.long, device=input_ids.device)
    # the prompt's logits at its last position only: all of them would be batch x width x vocab
    # floats (32 x 300 x 49,152 x 4 bytes = 1.9 GB for SmolLM2)
    keep_last = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    tokens: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    rows = list(range(input_ids.shape[0]))  # the batch row -> the caller's row
    with torch.inference_mode():
        out = model(input_ids=input_ids[:, cached:], attention_mask=attention_mask,
                    position_ids=positions[:, cached:], past_key_values=cache, use_cache=True, **keep_last)
        cache, logits = out.past_key_values, out.logits[:, -1, :].float()
        if floor is not None:
            logits = floor(input_ids, logits)
        last_position = positions[:, -1]
        for step in range(max_new_tokens):
            chosen = logits.argmax(dim=-1)
            for row, token in zip(rows, chosen.tolist(), strict=True):
                tokens[row].append(int(token))
            going = (~torch.isin(chosen, stop)).nonzero().flatten()
            if step == max_new_tokens - 1 or len(going) == 0:
                break
            if len(going) < len(rows):
                cache.batch_select_indices(going)
                attention_mask, chosen, last_position = attention_mask[going], chosen[going], last_position[going]
                rows = [rows[i] for i in going.tolist()]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(rows), 1))], dim=1)
            last_position = last_position + 1
            logits = model(input_ids=chosen[:, None], attention_mask=attention_mask,
                           position_ids=last_position[:, None], past_key_values=cache,
                           use_cache=True).logits[:, -1, :].float()
    return tokens


def generate_answers(
    model: Any,  # a PreTrainedModel, or a peft model around one
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    stop_ids: Sequence[int],
    abstain_floor: tuple[int, float] | None = None,
) -> list[Generation]:
    """Greedy answers to fully formatted prompts (prompt_text output), in the prompts' order.

    Generation stops at the first of `stop_ids` (or after `max_new_tokens`); the answer is the
    text before that token, special tokens dropped, whitespace stripped. `abstain_floor`:
    (the abstention's first token id, its minimum probability), see AbstentionFloor.
    """
    import torch

    if not prompts:
        return []
    pad_id = _pad_id(tokenizer)
    stop = set(int(s) for s in stop_ids)
    device = _model_device(model)
    # The chat template already writes its special tokens, and training tokenised the same way.
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    # each row keeps at least its last prompt token, whose logits give the first answer token
    prefix = SharedPrefix.build(model, encoded, max_length=min(len(e) for e in encoded) - 1)
    answers: list[Generation | None] = [None] * len(prompts)
    for batch in _batches_by_length([len(e) for e in encoded], batch_size):
        suffixes = [encoded[i][prefix.length :] for i in batch]
        width = max(len(x) for x in suffixes)
        # [shared prefix][left pads][rest of the prompt]: the pads sit after the cached prefix,
        # masked out; positions are numbered by the mask's running count, so each row's tokens
        # get the positions they would have unpadded.
        input_ids = torch.full((len(batch), prefix.length + width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), prefix.length + width), dtype=torch.long)
        input_ids[:, : prefix.length] = torch.tensor(prefix.ids, dtype=torch.long)
        attention_mask[:, : prefix.length] = 1
        for row, ids in enumerate(suffixes):
            input_ids[row, prefix.length + width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, prefix.length + width - len(ids) :] = 1
        floor = AbstentionFloor(*abstain_floor) if abstain_floor is not None else None
        generated = greedy_decode(model, input_ids.to(device), attention_mask.to(device),
                                  cache=prefix.cache_for(len(batch)) if prefix.length else None,
                                  max_new_tokens=max_new_tokens, stop_ids=sorted(stop), floor=floor)
        for row, i in enumerate(batch):
            new_tokens = generated[row]
            cut = next((k for k, t in enumerate(new_tokens) if t in stop), None)
            text = cast(str, tokenizer.decode(new_tokens[:cut], skip_special_tokens=True))
            if cut is None:
                # cut at max_new_tokens, possibly inside a multi-byte character: drop its orphan bytes
                text = text.rstrip("\ufffd")
            answers[i] = Generation(text=text.strip(), hit_limit=cut is None,
                                    abstain_prob=floor.first_probs[row] if floor is not None else None,
                                    floored=floor.floored[row] if floor is not None else False,
                                    token_ids=tuple(new_tokens))
    return [a for a in answers if a is not None]


@dataclass(frozen=True)
class SharedPrefix:
    """The token prefix every sequence of a call starts with, and its KV cache, computed once.

    Every prompt starts with the same chat-template preamble (SmolLM2's system prompt) and, for
    the few-shot baseline, the same example turns: 25 to 200 tokens that would otherwise be
    re-encoded for every question. Their keys/values are computed once (batch of one, positions
    0..n-1, exactly what each row would compute itself) and copied into every batch.
    """

    ids: list[int]
    cache: Any

    @property
    def length(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls, model: Any, sequences: Sequence[Sequence[int]], max_length: int, min_length: int = 8
    ) -> SharedPrefix:
        """The longest common prefix of `sequences`, at most `max_length` tokens (none if under `min_length`)."""
        import torch
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        first = sequences[0]
        n = 0
        while n < max_length and all(s[n] == first[n] for s in sequences):
            n += 1
        if n < min_length:
            return cls([], None)
        ids = list(first[:n])
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids], device=_model_device(model)), use_cache=True)
        cache = out.past_key_values
        # Only the plain full-attention cache is known to extend correctly after a copy;
        # anything else (sliding window, static, quantised caches) runs without the shortcut.
        if type(cache) is not DynamicCache or not all(type(layer) is DynamicLayer for layer in cache.layers):
            return cls([], None)
        return cls(ids, cache)

    def cache_for(self, rows: int) -> Any:
        """A private copy of the prefix cache for a batch of `rows` (generate extends it in place)."""
        import copy

        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(rows)
        return cache


def max_positions(model: Any) -> int:
    """The longest sequence the model takes (its config's max_position_embeddings, else 2048)."""
    return int(getattr(model.config, "max_position_embeddings", None) or 2048)


@dataclass(frozen=True)
class AnswerNLL:
    """Summed negative log-likelihood (nats) of one reference answer's tokens, and how many there were."""

    nll: float
    tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll / self.tokens)


def answer_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    max_len: int,
    answer_tokens: int | None = None,
) -> list[AnswerNLL | None]:
    """Teacher-forced NLL of each (question, reference answer) on the answer tokens only.

    The sequence is the training one (answer_only_labels: prompt + answer + end-of-turn token),
    so the end token is scored too: a model that has learnt where answers stop is rewarded.
    A pair that does not fit in `max_len` tokens gives None (the caller counts it).
    `answer_tokens`: score only each answer's first so many tokens (answer selection reads where an
    answer starts; see docent.assistant.answer.select).
    """
    import torch

    encoded = [answer_only_labels(tokenizer, q, a, max_len) for q, a in pairs]
    if answer_tokens is not None:
        # only the first `answer_tokens` answer tokens are scored (and fed): the rest costs compute
        for e in encoded:
            if e is not None:
                first = next(t for t, label in enumerate(e["labels"]) if label != IGNORE_INDEX)
                e["input_ids"], e["labels"] = (e["input_ids"][:first + answer_tokens],
                                               e["labels"][:first + answer_tokens])
    results: list[AnswerNLL | None] = [None] * len(pairs)
    kept = [e for e in encoded if e is not None]
    if not kept:
        return results
    index = [i for i, e in enumerate(encoded) if e is not None]
    pad_id = _pad_id(tokenizer)
    device = _model_device(model)
    # Share the cached prefix only up to the token before each row's first answer token, so
    # every scored token is predicted from logits computed in this batch.
    first_labels = [next(t for t, label in enumerate(e["labels"]) if label != IGNORE_INDEX) for e in kept]
    prefix = SharedPrefix.build(model, [e["input_ids"] for e in kept], max_length=min(first_labels) - 1)
    p = prefix.length
    scored_only = _accepts_logits_to_keep(model)
    for batch_pos in _batches_by_length([len(e["input_ids"]) for e in kept], batch_size):
        width = max(len(kept[b]["input_ids"]) for b in batch_pos) - p
        # Right padding after the prefix: real tokens keep positions p..n-1 exactly as in training;
        # pads are masked out of attention and carry label -100, so they add nothing to the NLL.
        input_ids = torch.full((len(batch_pos), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch_pos), p + width), dtype=torch.long)
        labels = torch.full((len(batch_pos), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask[:, :p] = 1
        for row, b in enumerate(batch_pos):
            n = len(kept[b]["input_ids"]) - p
            input_ids[row, :n] = torch.tensor(kept[b]["input_ids"][p:], dtype=torch.long)
            attention_mask[row, p : p + n] = 1
            labels[row, :n] = torch.tensor(kept[b]["labels"][p:], dtype=torch.long)
        extra: dict[str, Any] = {}
        if p:
            extra["past_key_values"] = prefix.cache_for(len(batch_pos))
            extra["position_ids"] = torch.arange(p, p + width, device=device).expand(len(batch_pos), -1)
        # Position t's logits predict token t+1, so the answer tokens need the logits of positions
        # start..width-2 only, start = the batch's first answer token - 1. The prompt's logits are
        # batch x width x vocab floats (32 x 120 x 49,152 x 4 bytes = 755 MB for SmolLM2's longest
        # batch, and as much again for the log-softmax), so the model is asked for the answer
        # positions alone (logits_to_keep); README "Results" has evaluate's peak RSS before and after.
        start = min(first_labels[b] for b in batch_pos) - p - 1
        if scored_only:
            extra["logits_to_keep"] = torch.arange(start, width - 1, device=device)
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                           use_cache=bool(p), **extra).logits
        shift_logits = (logits if scored_only else logits[:, start : width - 1, :]).float()
        shift_labels = labels[:, start + 1 :].to(shift_logits.device)
        token_nll = torch.nn.functional.cross_entropy(
            shift_logits.reshape(-1, shift_logits.size(-1)),
            shift_labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="none",
        ).view(shift_labels.shape)
        counted = shift_labels != IGNORE_INDEX
        for row, b in enumerate(batch_pos):
            results[index[b]] = AnswerNLL(
                nll=float(token_nll[row][counted[row]].sum()), tokens=int(counted[row].sum())
            )
    return results


def corpus_perplexity(scores: Sequence[AnswerNLL | None]) -> float:
    """Token-weighted perplexity: exp(total NLL / total answer tokens) over the pairs that fit."""
    kept = [s for s in scores if s is not None]
    total_tokens = sum(s.tokens for s in kept)
    if total_tokens == 0:
        return float("nan")
    return math.exp(sum(s.nll for s in kept) / total_tokens)
