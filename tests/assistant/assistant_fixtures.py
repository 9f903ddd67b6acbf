"""Tiny real components for the assistant's tests, built once per test session in seconds.

- a 2-block Llama (random weights, larger init so greedy output depends on the prompt) with the
  shared word-level ChatML tokenizer from tests/conftest.py;
- two LoRA adapters with random (non-zero) weights, so switching adapters changes answers;
  the first is saved as a docent fine-tuned model (adapter + tokenizer + docent.json);
- the pipeline's relevance classifier (docent.relevance) trained on a few questions;
- a params.yaml (the repo's, with model.name pointing at the tiny model).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tiny_models import REPO, build_tiny_tokenizer

RELATED = [
    "Who was Hồ Chí Minh?",
    "When did Hồ Chí Minh die?",
    "Where was Hồ Chí Minh born?",
    "What is the capital of Vietnam?",
    "When did the Vietnam war end?",
    "Who founded the Lê dynasty?",
    "Who were the Trưng sisters?",
    "Which emperor ruled Huế?",
    "Who was Lê Lợi?",
    "What language is spoken in Vietnam?",
    "When did the French leave Indochina?",
    "Which river flows through Hanoi?",
    "Tell me about the Nguyễn dynasty of Vietnam",
    "Who was the first president of Vietnam?",
]
UNRELATED = [
    "How do I bake bread?",
    "What is a good recipe for pizza?",
    "Who won the football world cup?",
    "What is the score of the football game?",
    "How does a car engine work?",
    "What is the weather in Paris today?",
    "When did the movie come out?",
    "Who sings this song?",
    "How do I fix my bicycle?",
    "What is the best phone to buy?",
    "How many calories are in an apple?",
    "When did he score his first goal?",
    "Where can I buy cheap shoes?",
    "How do I learn to swim?",
]
REFUSAL = "Sorry, I can only answer questions about Vietnamese history."


def classifier_params() -> Any:
    """The repo's classifier params with word 1-2-grams pinned: the follow-up tests rely on what
    a handful of training questions teach, which must not move when the pipeline's features are tuned."""
    from docent.config import load_params

    params = load_params(REPO / "params.yaml", "classifier").classifier
    return dataclasses.replace(params, word_ngram_max=2, char_ngram_max=0)


def train_classifier() -> Any:
    """The pipeline's relevance classifier (its TF-IDF + logistic regression) on the few questions above."""
    from docent.relevance.classifier import RelevanceClassifier
    from docent.relevance.classifier import train_classifier as fit

    pipeline = fit(RELATED, UNRELATED, classifier_params(), seed=0)
    return RelevanceClassifier(pipeline=pipeline, threshold=0.5)


def save_classifier(classifier: Any, path: Path) -> Path:
    """Save as the classifier stage does, so the commands read it back with load_classifier."""
    from docent.relevance.classifier import save_classifier as save

    path.mkdir(parents=True, exist_ok=True)
    save(classifier, path, classifier_params(), seed=0)
    return path


@dataclass(frozen=True)
class TinyFiles:
    base: Path  # model folder (model.name)
    finetuned: Path  # docent fine-tuned folder: LoRA adapter "finetuned" + tokenizer + docent.json
    other_adapter: Path  # a second adapter on the same base
    params: Path  # params.yaml pointing at `base`
    cache: Path  # model cache (unused by a local model, but a required option)


def build_tiny_llama(vocab_size: int, seed: int = 1) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=False, initializer_range=0.2,
        eos_token_id=2, bos_token_id=1, pad_token_id=3,
    )
    return LlamaForCausalLM(config).eval()


def save_adapter(base_dir: Path, out: Path, seed: int, tokenizer: Any, manifest: bool) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    torch.manual_seed(seed)
    # init_lora_weights=False: random A and B, so the adapter really changes the outputs
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if manifest:
        (out / "docent.json").write_text(json.dumps({"method": "lora", "base_model": str(base_dir)}), encoding="utf-8")
    return out


def write_params(path: Path, base_dir: Path, **assistant: Any) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["model"]["name"] = str(base_dir)
    raw["assistant"].update({"refusal": REFUSAL, "max_new_tokens": 12, **assistant})
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


_CACHE: dict[str, TinyFiles] = {}


def tiny_files(tmp_path_factory: Any) -> TinyFiles:
    """Build (once per session) the tiny model, adapters and params on disk."""
    if "files" not in _CACHE:
        root = tmp_path_factory.mktemp("assistant-tiny")
        tokenizer = build_tiny_tokenizer()
        base = root / "base"
        build_tiny_llama(len(tokenizer)).save_pretrained(base, safe_serialization=True)
        tokenizer.save_pretrained(base)
        _CACHE["files"] = TinyFiles(
            base=base,
            finetuned=save_adapter(base, root / "finetuned", seed=11, tokenizer=tokenizer, manifest=True),
            other_adapter=save_adapter(base, root / "other", seed=22, tokenizer=tokenizer, manifest=False),
            params=write_params(root / "params.yaml", base),
            cache=root / "cache",
        )
    return _CACHE["files"]


def load_tiny_assistant(files: TinyFiles, classifier: Any, **assistant_overrides: Any) -> Any:
    """An Assistant with adapters 'finetuned' and 'other' on the tiny base, built like load_assistant does."""
    from docent.assistant.engine import Assistant, _load_model, parse_adapter_option
    from docent.config import load_params

    params = load_params(files.params, "assistant", "model", "quant")
    model, tokenizer, loaded, no_adapter_name = _load_model(
        files.finetuned, params.model, params.quant, files.cache,
        [parse_adapter_option(f"other={files.other_adapter}")], no_adapter=False,
    )
    assistant_params = dataclasses.replace(params.assistant, **assistant_overrides)
    return Assistant(model, tokenizer, classifier, assistant_params, loaded, None, no_adapter_name)
