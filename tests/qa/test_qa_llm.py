"""The llm generator: JSON parsing and the shared selection step on hand-written output, and a tiny random
model end to end."""

from __future__ import annotations

import json

import pytest

from docent.qa.llm import LLMGenerator, build_prompt, parse_pairs, proposal_of
from docent.qa.records import Sentence
from docent.qa.selection import Selection

PASSAGE = "Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945."


def test_parse_pairs_reads_a_list_inside_chatter():
    text = 'Sure! Here you go:\n[{"question": "Who founded it?", "answer": "Hồ Chí Minh did."}]\nDone.'
    assert parse_pairs(text) == [{"question": "Who founded it?", "answer": "Hồ Chí Minh did."}]


def test_parse_pairs_reads_loose_objects_and_rejects_garbage():
    text = '{"question": "A?", "answer": "B."} and {"question": "C?", "answer": "D."}'
    assert parse_pairs(text) == [{"question": "A?", "answer": "B."}, {"question": "C?", "answer": "D."}]
    assert parse_pairs("no json here [ {") is None


def keep_one(item, seen=frozenset(), short_answers=True):
    """(kept (question, answer, short), None) or (None, reason) for one pair, through the shared selection step."""
    proposal, reason = proposal_of(item, short_answers)
    if proposal is None:
        return None, reason
    selection = Selection(per_fact=4, max_answer_words=40, min_overlap=0.6, short_answers=short_answers,
                          seen=set(seen))
    kept = selection.keep([proposal], PASSAGE)
    if kept:
        [(answer, cand)] = kept
        return (cand.question, answer, cand.short), None
    [reason] = [k.removeprefix("rejected_") for k, v in selection.counts.items() if v and k.startswith("rejected_")]
    return None, reason


def test_validate_keeps_a_grounded_pair_and_names_each_reject():
    good = {"question": "When did Hồ Chí Minh found the Democratic Republic of Vietnam?",
            "answer": "Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945.", "short_answer": "1945"}
    assert keep_one(good) == ((good["question"], good["answer"], "1945"), None)
    # the short answer must be stated by the answer and not given away by the question
    assert keep_one({**good, "short_answer": "1946"}) == (None, "short_answer_not_in_answer")
    assert keep_one({**good, "short_answer": "Hồ Chí Minh"}) == (None, "short_answer_in_question")
    assert keep_one({**good, "short_answer": " "}) == (None, "missing_field")
    # the out-of-domain pool needs no short answer
    no_short = {k: v for k, v in good.items() if k != "short_answer"}
    assert keep_one(no_short, short_answers=False)[1] is None
    invented = {"question": "When did Hồ Chí Minh visit Paris?", "answer": "Hồ Chí Minh visited Paris in 1911 "
                "with his brother.", "short_answer": "1911"}
    assert keep_one(invented) == (None, "not_grounded")
    assert keep_one({"question": "Who?"}) == (None, "missing_field")
    assert keep_one(["x"]) == (None, "not_an_object")
    assert keep_one({**good, "question": "Founded in 1945"})[1] == "question_ungrammatical"
    assert keep_one(good, seen={"when did hồ chí minh found the democratic republic of vietnam"}) == (
        None, "duplicate_question")


def test_cap_counts_only_valid_pairs_and_prefers_different_forms():
    answer = "Hồ Chí Minh founded the Democratic Republic of Vietnam in 1945."
    items = [{"question": "When did Hồ Chí Minh found the Democratic Republic of Vietnam?", "answer": answer,
              "short_answer": "1945"},
             {"question": "When was the Democratic Republic of Vietnam founded by Hồ Chí Minh?",
              "answer": answer, "short_answer": "1945"},
             {"question": "Founded in 1945", "answer": answer, "short_answer": "1945"},  # invalid: not a reject
             {"question": "Who founded the Democratic Republic of Vietnam in 1945?", "answer": answer,
              "short_answer": "Hồ Chí Minh"}]
    proposals = [p for p, _ in map(proposal_of, items) if p is not None]
    selection = Selection(per_fact=2, max_answer_words=40, min_overlap=0.6)
    kept = selection.keep(proposals, PASSAGE)
    # one of each form, in the rules generator's order of forms (who before when); the second "when" is cut
    assert [c.question for _, c in kept] == [items[3]["question"], items[0]["question"]]
    assert selection.counts["candidates_beyond_per_fact"] == 1
    assert selection.counts["rejected_question_ungrammatical"] == 1


@pytest.fixture(scope="module")
def tiny_model_and_tokenizer():
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator([PASSAGE, json.dumps({"question": "Who?", "answer": "He did."})] * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<eos>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config).eval(), tokenizer


def test_random_model_output_is_rejected_and_counted(tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    generator = LLMGenerator(model, tokenizer, per_fact=2, min_overlap=0.6, max_new_tokens=12, max_answer_words=40)
    sentences = [Sentence(doc_id="d", title="Ho Chi Minh", sent_id=k, text=PASSAGE) for k in range(3)]
    pairs, counts = generator.generate(sentences)
    assert pairs == []
    assert counts["sentences_without_question"] == 3
    rejected = sum(v for k, v in counts.items() if k.startswith("rejected_"))
    assert rejected >= 3  # garbage is never kept, and each sentence's failure has a reason


def test_prompt_names_the_passage_and_count(tiny_model_and_tokenizer):
    _, tokenizer = tiny_model_and_tokenizer
    prompt = build_prompt(tokenizer, "Ho Chi Minh", PASSAGE, 3)
    assert PASSAGE in prompt and "3 different questions" in prompt and prompt.endswith("JSON:\n")
