"""Helpers for the finetune tests: a tiny randomly initialised Llama-style model, a word-level
tokenizer with a chat template, QA files and params pointing at them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SPECIALS = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

FACTS = [
    ("who founded the red city", "the red city was founded by king alba in the north"),
    ("when did the blue river flood", "the blue river flooded in the year of the great rain"),
    ("what is the green mountain known for", "the green mountain is known for its old stone temple"),
    ("who ruled the silver coast", "queen mara ruled the silver coast for forty years"),
    ("where is the golden gate", "the golden gate stands at the end of the long road"),
    ("what did the old sailor find", "the old sailor found a map of the hidden island"),
]
EXTRA_WORDS = ["user", "assistant", "system", "tell", "me", "about", "a", "an", "of", "the", "and", "in", "is", "was"]


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for q, a in FACTS for w in (q + " " + a).split()} | set(EXTRA_WORDS))
    vocab = {tok: i for i, tok in enumerate(SPECIALS + words)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>",
                                  eos_token="<|im_end|>", bos_token="<|im_start|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(tokenizer, layers: int = 4, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


def qa_rows(pairs: list[tuple[str, str]], prefix: str = "q") -> list[dict]:
    return [{"id": f"{prefix}{i}", "question": q, "answer": a, "doc_id": "d", "sent_ids": [i],
             "fact_id": i, "qtype": "what", "generator": "test"} for i, (q, a) in enumerate(pairs)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_params(path: Path, model_dir: Path | str, **overrides: object) -> Path:
    """The repo's params.yaml with model.name pointing at the tiny model and `section.key` overrides."""
    repo_params = Path(__file__).resolve().parents[2] / "params.yaml"
    params = yaml.safe_load(repo_params.read_text(encoding="utf-8"))
    params["model"]["name"] = str(model_dir)
    small = {"train.max_steps": 6, "train.batch_size": 2, "train.eval_steps": 2, "train.save_steps": 2,
             "train.max_seq_len": 64, "train.threads": 1, "train.warmup_ratio": 0.0, "freeze.layers": 0,
             "freeze.fraction": 0.0, "train.context": "none"}
    for key, value in {**small, **{k.replace("__", "."): v for k, v in overrides.items()}}.items():
        section, name = key.split(".")
        params[section][name] = value
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def stage_args(params: Path, files: dict[str, Path]) -> list[str]:
    return ["--params", str(params), "--train", str(files["train"]), "--val", str(files["val"]),
            "--sentences", str(files["sentences"]), "--index", str(files["index"]),
            "--model-cache", str(files["cache"]),
            "--checkpoints", str(files["checkpoints"]), "--out", str(files["out"]),
            "--live-dir", str(files["live"]), "--metrics", str(files["metrics"]),
            "--machine-metrics", str(files["machine_metrics"])]
