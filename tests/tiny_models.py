"""The one tiny chat model of the test suite: a randomly initialised Llama saved to disk in seconds.

Its tokenizer is a word-level vocabulary over a small corpus (the Vietnamese-history words the
assistant, evaluation and pipeline tests use, plus the invented FACTS the finetune tests teach)
with ChatML special tokens and a ChatML chat template, so the prompt format, end-of-turn handling
and answer-only labels are exercised exactly as with SmolLM2, without downloading anything.
`tiny_model_dir` (tests/conftest.py) is this model saved once per session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# Token ids 0-3, in this order; build_tiny_llama's special ids follow it.
SPECIALS = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
UNK_ID, BOS_ID, EOS_ID, PAD_ID = range(4)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_CORPUS = (
    "who what when where which was is the a an of in on by to and he she it they "
    "Hồ Chí Minh Vietnam Hanoi Huế founded born died president capital city river war dynasty "
    "emperor revolutionary French Indochina Trưng sisters Lê Lợi 1945 1969 1890 year people "
    "system user assistant tell me about did do does first last name language spoken ? . , "
    "How bake bread recipe football score Paris"
)

# Invented facts (question, answer) that the finetune tests teach the tiny model; every word is in the vocabulary.
FACTS = [
    ("who founded the red city", "the red city was founded by king alba in the north"),
    ("when did the blue river flood", "the blue river flooded in the year of the great rain"),
    ("what is the green mountain known for", "the green mountain is known for its old stone temple"),
    ("who ruled the silver coast", "queen mara ruled the silver coast for forty years"),
    ("where is the golden gate", "the golden gate stands at the end of the long road"),
    ("what did the old sailor find", "the old sailor found a map of the hidden island"),
]
EXTRA_WORDS = "Tell"  # passage questions start "Tell me about ..."


def vocabulary() -> list[str]:
    words = set(TINY_CORPUS.split()) | set(EXTRA_WORDS.split())
    words |= {w for q, a in FACTS for w in f"{q} {a}".split()}
    return SPECIALS + sorted(words)


def build_tiny_tokenizer(chat_template: str | None = CHATML_TEMPLATE) -> Any:
    """A fast word-level tokenizer with ChatML specials; unknown words map to <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_llama(vocab_size: int, layers: int = 4, seed: int = 0, tie_word_embeddings: bool = True,
                     initializer_range: float = 0.02) -> Any:
    """A Llama with hidden size 32 (the same module names as SmolLM2/Llama-2), in eval mode.

    initializer_range=0.2 (with untied embeddings) makes greedy output depend on the prompt, which
    the assistant and evaluate tests need; the default is the usual small init that trains smoothly.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=tie_word_embeddings,
        initializer_range=initializer_range,
        eos_token_id=EOS_ID,
        bos_token_id=BOS_ID,
        pad_token_id=PAD_ID,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


# build_tiny_llama options for tests that read greedy answers: 2 blocks, untied embeddings and random
# weights large enough that the answer depends on the prompt (and on an adapter).
SHARP_LLAMA = {"layers": 2, "seed": 1, "tie_word_embeddings": False, "initializer_range": 0.2}


def save_tiny_model(path: Path, tokenizer: Any = None, **llama: Any) -> Path:
    """Model (config.json + model.safetensors) and tokenizer in `path`, usable as `model.name`."""
    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    build_tiny_llama(len(tokenizer), **llama).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path



SMOLLM_LIKE_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_bpe_tokenizer(chat_template: str | None = CHATML_TEMPLATE, vocab_size: int = 400):
    """A byte-level BPE tokenizer (GPT-2 split, like SmolLM2's) trained on the tiny corpus in memory,
    with the ChatML specials as ids 0-3; GGUF can carry it (tokens + merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TINY_CORPUS] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   unk_token="<unk>", pad_token="<pad>")
    if chat_template:
        fast.chat_template = chat_template
    return fast
