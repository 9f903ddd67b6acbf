"""Shared test helpers: a tiny randomly initialised chat model saved to disk, built in seconds.

Its tokenizer is a word-level vocabulary over a small corpus plus ChatML special tokens and
a ChatML chat template, so the prompt format, end-of-turn handling and answer-only labels
are exercised exactly as with SmolLM2, without downloading or converting anything.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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


def build_tiny_tokenizer(chat_template: str | None = CHATML_TEMPLATE):
    """A fast word-level tokenizer with ChatML specials; unknown words map to <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    words = sorted(set(TINY_CORPUS.split()))
    vocab = {tok: i for i, tok in enumerate(specials + words + ["\n"])}
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


def build_tiny_llama(vocab_size: int, layers: int = 4, seed: int = 0):
    """A 4-block Llama with hidden size 32: the same module names as SmolLM2/Llama-2."""
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
        tie_word_embeddings=True,
        eos_token_id=2,
        bos_token_id=1,
        pad_token_id=3,
    )
    return LlamaForCausalLM(config)


def save_tiny_model(path: Path, layers: int = 4) -> Path:
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_llama(len(tokenizer), layers=layers)
    model.save_pretrained(path, safe_serialization=True)
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
