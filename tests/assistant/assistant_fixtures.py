"""Tiny real components for the assistant's tests, built once per test session in seconds.

- the shared tiny Llama (tests/tiny_models.py) with 2 blocks, untied embeddings and a larger init
  (SHARP_LLAMA), so greedy output depends on the prompt;
- two LoRA adapters with random (non-zero) weights, so switching adapters changes answers;
  the first is saved as a docent fine-tuned model (adapter + tokenizer + docent.json);
- the pipeline's relevance classifier (docent.relevance) trained on a few questions;
- a params.yaml (the repo's, with model.name pointing at the tiny model);
- a BM25 index (docent.retrieval) over a few passages, and a copy of the fine-tuned model whose
  docent.json says it was trained with retrieved passages (so the commands retrieve by default).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tiny_models import REPO, SHARP_LLAMA, build_tiny_tokenizer, save_tiny_model

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
ABSTAIN = "I don't find that in my sources about Vietnamese history."

# Passages for the tiny index. "When did he die?" alone finds Lê Lợi's (it says "died" twice);
# after "Who was Hồ Chí Minh?" it must find Hồ Chí Minh's. One source has no url (plain text on
# the page), one a javascript: url and markup in its title (never a link, never parsed).
HCM_PASSAGE = ("hcm@0", "Hồ Chí Minh", "https://en.wikipedia.org/wiki/Ho_Chi_Minh", "Life",
               "Hồ Chí Minh was a Vietnamese revolutionary and the first president of Vietnam. He died in 1969.")
LE_LOI_PASSAGE = ("leloi@0", "Lê Lợi", "", "",
                  "Lê Lợi founded the Lê dynasty and was emperor. He died in 1433; he died in Thanh Hóa.")
RIVER_PASSAGE = ("river@0", "Red River <b>delta</b>", "javascript:document.title='pwned'", "",
                 "The Red River flows through Hanoi to the Gulf of Tonkin.")
PASSAGES = (HCM_PASSAGE, LE_LOI_PASSAGE, RIVER_PASSAGE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def classifier_params() -> Any:
    """The repo's classifier params with word 1-2-grams, question words included, pinned: the
    follow-up tests rely on what a handful of training questions teach, which must not move when the
    pipeline's features are tuned (without its question words, "When did he die?" is the one word
    "die", which none of these questions has: the intercept alone then decides)."""
    from docent.config import load_params

    params = load_params(REPO / "params.yaml", "classifier").classifier
    return dataclasses.replace(params, word_ngram_max=2, char_ngram_max=0, drop_question_words=False)


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
    index: Path  # BM25 index over PASSAGES, built for the params' retrieval section
    grounded: Path  # the fine-tuned adapter again, its docent.json saying context: retrieved


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
    raw["assistant"].update({"refusal": REFUSAL, "abstain": ABSTAIN, "max_new_tokens": 12, **assistant})
    raw["retrieval"].update(TINY_FLOORS)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# BM25 scores grow with the corpus: in these few passages the best match scores ~1.6, under the
# repo's retrieval.min_score (measured on corpora of 36 to 96 articles). The tiny assistant answers
# with both floors off; the tests of each floor set it themselves. Its retrieval is BM25 alone, as
# these tests were written for: which passages an answer of the untrained tiny model "drew on"
# follows from the words it happens to repeat, and the embedding reorders the 6 passages. Retrieval
# with embeddings through the answer path: tests/assistant/test_answer_path.py, tests/retrieval.
TINY_FLOORS = {"min_score": 0.0, "min_query_match": 0.0, "abstain_min_prob": 0.0, "embedding_model": ""}


def retrieval_params(**changes: Any) -> Any:
    from docent.config import load_params

    return dataclasses.replace(load_params(REPO / "params.yaml", "retrieval").retrieval, **{**TINY_FLOORS, **changes})


def tiny_passages() -> list[Any]:
    from docent.retrieval.passages import Passage

    return [Passage(passage_id=pid, doc_id=pid.split("@")[0], title=title, url=url, section=section, text=text,
                    sent_ids=(f"{pid.split('@')[0]}#0",)) for pid, title, url, section, text in PASSAGES]


def build_index(out: Path, **retrieval_changes: Any) -> Path:
    """The index stage's BM25 index over PASSAGES, its manifest made from the (changed) retrieval params."""
    from docent.retrieval.build import index_manifest
    from docent.retrieval.index import PassageIndex

    PassageIndex.build(tiny_passages(), index_manifest(retrieval_params(**retrieval_changes))).save(out)
    return out


def save_grounded(finetuned: Path, out: Path, abstain: str = ABSTAIN) -> Path:
    """A copy of the fine-tuned model whose manifest says it was trained with retrieved passages."""
    shutil.copytree(finetuned, out)
    manifest = json.loads((out / "docent.json").read_text(encoding="utf-8"))
    manifest.update({"context": "retrieved", "retrieval_k": retrieval_params().k, "abstain": abstain})
    (out / "docent.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


_CACHE: dict[str, TinyFiles] = {}


def tiny_files(tmp_path_factory: Any) -> TinyFiles:
    """Build (once per session) the tiny model, adapters and params on disk."""
    if "files" not in _CACHE:
        root = tmp_path_factory.mktemp("assistant-tiny")
        tokenizer = build_tiny_tokenizer()
        base = save_tiny_model(root / "base", tokenizer, **SHARP_LLAMA)
        finetuned = save_adapter(base, root / "finetuned", seed=11, tokenizer=tokenizer, manifest=True)
        _CACHE["files"] = TinyFiles(
            base=base,
            finetuned=finetuned,
            other_adapter=save_adapter(base, root / "other", seed=22, tokenizer=tokenizer, manifest=False),
            params=write_params(root / "params.yaml", base),
            cache=root / "cache",
            index=build_index(root / "index"),
            grounded=save_grounded(finetuned, root / "grounded"),
        )
    return _CACHE["files"]


def load_tiny_assistant(files: TinyFiles, classifier: Any, retrieve: bool = False, **assistant_overrides: Any) -> Any:
    """An Assistant with adapters 'finetuned' and 'other' on the tiny base, built like load_assistant
    does; `retrieve`: grounded in the tiny index (with the params' retrieval section)."""
    from docent.assistant.engine import Assistant, load_assistant_index, parse_adapter_option
    from docent.config import load_params
    from docent.modeling.lifecycle import load_model_set

    params = load_params(files.params, "assistant", "model", "quant")
    models = load_model_set(files.finetuned, params.model, params.quant, files.cache,
                            [parse_adapter_option(f"other={files.other_adapter}")])
    assistant_params = dataclasses.replace(params.assistant, **assistant_overrides)
    retrieval = retrieval_params()
    index = load_assistant_index(files.index, retrieval) if retrieve else None
    return Assistant(models, classifier, assistant_params, None, retriever=index, retrieval=retrieval)
