"""Batched generation with left padding equals one-at-a-time; perplexity equals exp(mean NLL) by hand."""

from __future__ import annotations

import functools
import math

import pytest
from tiny_models import build_tiny_tokenizer

from docent.modeling.generation import (
    AbstentionFloor,
    SharedPrefix,
    answer_nll,
    corpus_perplexity,
    generate_answers,
)
from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels, prompt_text

QUESTIONS = [
    "who was Hồ Chí Minh ?",
    "when did the war end ?",
    "what is the capital city of Vietnam and which river is it on ?",
    "who founded the Lê dynasty ?",
    "where was he born ?",
]


@pytest.fixture(scope="module")
def tiny():
    """A 2-block Llama whose greedy output depends on the prompt (larger init, untied head).

    With the default small init a random model emits one token forever whatever the input,
    and a padding bug would go unnoticed.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tiny_tokenizer()
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=False, initializer_range=0.2,
        eos_token_id=2, bos_token_id=1, pad_token_id=3,
    )
    return LlamaForCausalLM(config).eval(), tok


def test_batched_generation_equals_unbatched(tiny):
    model, tok = tiny
    prompts = [prompt_text(tok, q) for q in QUESTIONS]
    lengths = {len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) > 2  # prompts of different lengths, so batches really carry left padding
    stop = [tok.convert_tokens_to_ids("<|im_end|>")]
    one_by_one = generate_answers(model, tok, prompts, max_new_tokens=12, batch_size=1, stop_ids=stop)
    batched = generate_answers(model, tok, prompts, max_new_tokens=12, batch_size=4, stop_ids=stop)
    assert [g.text for g in batched] == [g.text for g in one_by_one]
    assert [g.hit_limit for g in batched] == [g.hit_limit for g in one_by_one]
    assert len({g.text for g in batched}) == len(prompts)  # answers depend on the prompt


def _plain_greedy(model, tok, prompt, max_new_tokens):
    """Reference: one prompt, no padding, no shared-prefix cache."""
    import torch

    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=[2])
    return tok.decode(out[0, ids.shape[1]:].tolist(), skip_special_tokens=True).strip()


def test_few_shot_prompts_reuse_the_shared_prefix_and_match_plain_generation(tiny):
    model, tok = tiny
    history = [("who was Lê Lợi ?", "emperor ."), ("when did he die ?", "1945 .")]
    prompts = [prompt_text(tok, q, history) for q in QUESTIONS]
    encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert SharedPrefix.build(model, encoded, max_length=40).length > 8  # the examples are cached once
    batched = generate_answers(model, tok, prompts, max_new_tokens=10, batch_size=3, stop_ids=[2])
    assert [g.text for g in batched] == [_plain_greedy(model, tok, p, 10) for p in prompts]


def test_rows_that_stop_early_leave_the_batch_and_the_rest_match_generate(tiny):
    """A stop token that some rows write early and others never: the early rows leave the batch
    (their cache rows dropped), and every row still gets exactly what generate() gives it alone."""
    import torch

    model, tok = tiny
    prompts = [prompt_text(tok, q) for q in QUESTIONS]

    def alone(prompt, stop):
        ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12,
                                 do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=stop)
        return out[0, ids.shape[1]:].tolist()

    free = [alone(p, [tok.pad_token_id]) for p in prompts]  # the pad token is never written
    # a token that one row writes at its 2nd..11th step but some other row never writes
    stop = next(t for ans in free for t in ans[1:11] if any(t not in other for other in free))
    expected = [alone(p, [stop]) for p in prompts]
    stops_at = [ans.index(stop) if stop in ans else None for ans in expected]
    assert any(s is not None for s in stops_at) and None in stops_at  # rows really leave at different steps
    got = generate_answers(model, tok, prompts, max_new_tokens=12, batch_size=5, stop_ids=[stop])
    assert [list(g.token_ids) for g in got] == expected
    assert [g.hit_limit for g in got] == [s is None for s in stops_at]


def test_generation_stops_at_stop_token(tiny):
    import torch

    model, tok = tiny
    prompt = prompt_text(tok, QUESTIONS[0])
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        greedy = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                do_sample=False, pad_token_id=tok.pad_token_id)[0, ids.shape[1]:].tolist()
    # Declare the first greedy token not seen before it a stop token: the answer is what precedes it.
    k = next(i for i in range(1, len(greedy)) if greedy[i] not in greedy[:i])
    [gen] = generate_answers(model, tok, [prompt], max_new_tokens=8, batch_size=1, stop_ids=[greedy[k]])
    assert not gen.hit_limit
    assert gen.text == tok.decode(greedy[:k], skip_special_tokens=True).strip() != ""
    [full] = generate_answers(model, tok, [prompt], max_new_tokens=8, batch_size=1, stop_ids=[tok.pad_token_id])
    assert tok.pad_token_id not in greedy and full.hit_limit


def _first_token_probs(model, tok, prompt):
    import torch

    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        return model(input_ids=ids).logits[0, -1].float().softmax(-1)


def test_abstention_floor_masks_the_first_token_only_below_its_probability(tiny):
    """The floor acts at the first answer position alone: the token the model would open with is
    masked when its probability is under the floor (the model then answers otherwise and the row is
    counted as floored), kept at or above it; a floor of 0 changes nothing; the reported
    probability is the model's own."""
    model, tok = tiny
    prompts = [prompt_text(tok, q) for q in QUESTIONS]
    stop = [tok.convert_tokens_to_ids("<|im_end|>")]
    plain = generate_answers(model, tok, prompts, max_new_tokens=6, batch_size=2, stop_ids=stop)
    probs = [_first_token_probs(model, tok, p) for p in prompts]
    # play the abstention's role with the greedy first token of the first prompt
    first = int(probs[0].argmax())
    p_first = [float(p[first]) for p in probs]
    opens_with_it = [int(p.argmax()) == first for p in probs]
    floor = p_first[0] + 1e-4  # just above what the model gives it on prompt 0
    floored = generate_answers(model, tok, prompts, max_new_tokens=6, batch_size=2, stop_ids=stop,
                               abstain_floor=(first, floor))
    unchanged = generate_answers(model, tok, prompts, max_new_tokens=6, batch_size=2, stop_ids=stop,
                                 abstain_floor=(first, 0.0))
    assert [g.text for g in unchanged] == [g.text for g in plain]
    assert not any(g.floored for g in unchanged)
    for g, p, opens, before in zip(floored, p_first, opens_with_it, plain, strict=True):
        assert g.abstain_prob == pytest.approx(p, abs=1e-5)
        assert g.floored == (opens and p < floor)
        if g.floored:
            assert g.text != before.text  # it answered with another first token
        elif p >= floor or not opens:
            assert g.text == before.text
    assert floored[0].floored


def test_abstention_floor_ignores_later_positions() -> None:
    import torch

    floor = AbstentionFloor(token_id=1, min_prob=0.9)
    first = floor(torch.zeros((2, 5), dtype=torch.long), torch.tensor([[0.0, 1.0, 0.0], [0.0, 9.0, 0.0]]))
    assert first[0, 1] == float("-inf") and first[1, 1] == 9.0  # p = 0.58 masked, p = 0.9998 kept
    assert floor.floored == [True, False]
    later = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert torch.equal(floor(torch.zeros((2, 6), dtype=torch.long), later), later)


def _nll_by_hand(model, tok, question, answer):
    """Unbatched forward; sum of -log p(token_t | tokens_<t) over the answer-labelled positions."""
    import torch

    enc = answer_only_labels(tok, question, answer, max_len=512)
    ids = torch.tensor([enc["input_ids"]])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
    nll, count = 0.0, 0
    for t, label in enumerate(enc["labels"]):
        if label != IGNORE_INDEX:
            nll -= float(logprobs[t - 1, label])
            count += 1
    return nll, count


def test_perplexity_is_exp_mean_nll_by_hand(tiny):
    model, tok = tiny
    pairs = [
        ("who was Hồ Chí Minh ?", "Hồ Chí Minh was president ."),
        ("when was he born ?", "1890"),
        ("what is the capital of Vietnam ?", "the capital of Vietnam is Hanoi , a city on the river ."),
    ]
    scores = answer_nll(model, tok, pairs, batch_size=2, max_len=512)  # padded batches
    by_hand = [_nll_by_hand(model, tok, q, a) for q, a in pairs]
    for got, (nll, count) in zip(scores, by_hand, strict=True):
        assert got.tokens == count
        assert got.nll == pytest.approx(nll, rel=1e-4)
        assert got.perplexity == pytest.approx(math.exp(nll / count), rel=1e-4)
    assert [s.tokens for s in scores] == [7, 2, 14]  # answer words + end-of-turn token
    total_nll = sum(n for n, _ in by_hand)
    total_tokens = sum(c for _, c in by_hand)
    assert corpus_perplexity(scores) == pytest.approx(math.exp(total_nll / total_tokens), rel=1e-4)


class _NoLogitsToKeep:
    """A model whose forward has no `logits_to_keep`: answer_nll slices the full logits itself."""

    def __init__(self, model):
        self.model, self.config = model, model.config

    def parameters(self):
        return self.model.parameters()

    def forward(self, input_ids, attention_mask, use_cache=False, past_key_values=None, position_ids=None):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache,
                          past_key_values=past_key_values, position_ids=position_ids)

    __call__ = forward


def test_perplexity_reads_only_answer_logits_either_way(tiny, monkeypatch):
    """With logits_to_keep (the model computes the answer positions' logits alone) and without it
    (the full logits, sliced): the same NLL as by hand, in batches whose answers start at different
    columns."""

    model, tok = tiny
    pairs = [("who ?", "Hồ Chí Minh was president of the country ."),
             ("what is the capital city of Vietnam ?", "Hanoi")]
    by_hand = [_nll_by_hand(model, tok, q, a) for q, a in pairs]
    asked = []
    forward = model.forward

    @functools.wraps(forward)  # keeps forward's signature, which answer_nll reads
    def recording(*args, **kwargs):
        asked.append(kwargs.get("logits_to_keep"))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recording)
    kept = answer_nll(model, tok, pairs, batch_size=2, max_len=512)
    assert any(k is not None and len(k) < 20 for k in asked)  # only the answer columns were asked for
    monkeypatch.undo()
    full = answer_nll(_NoLogitsToKeep(model), tok, pairs, batch_size=2, max_len=512)
    for scores in (kept, full):
        for got, (nll, count) in zip(scores, by_hand, strict=True):
            assert got.tokens == count and got.nll == pytest.approx(nll, rel=1e-4)


def test_perplexity_with_a_shared_cached_prefix_matches_by_hand(tiny):
    model, tok = tiny
    stem = "tell me about the war in Vietnam and the French in Indochina : "
    pairs = [(stem + "who was president ?", "Hồ Chí Minh was president ."),
             (stem + "when did it end ?", "1969"),
             (stem + "which city ?", "Hanoi , the capital city .")]
    encoded = [answer_only_labels(tok, q, a, max_len=512)["input_ids"] for q, a in pairs]
    assert SharedPrefix.build(model, encoded, max_length=40).length > 8  # the cached path is taken
    scores = answer_nll(model, tok, pairs, batch_size=2, max_len=512)
    for got, q_a in zip(scores, pairs, strict=True):
        nll, count = _nll_by_hand(model, tok, *q_a)
        assert got.tokens == count
        assert got.nll == pytest.approx(nll, rel=1e-4)


def test_pair_longer_than_context_is_none(tiny):
    model, tok = tiny
    scores = answer_nll(model, tok, [("who ?", "was " * 40), ("who ?", "he")], batch_size=4, max_len=20)
    assert scores[0] is None and scores[1] is not None
    assert corpus_perplexity(scores) == pytest.approx(scores[1].perplexity)
