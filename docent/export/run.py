"""The export stage: merge, write the GGUF, Modelfile and README into a temporary folder, verify,
and only then replace `models/export/` (a failed or interrupted export leaves the previous one).

Verification prompts are those evaluate's headline row answers: the `test` questions in the
prompt format the model was trained with (manifest `context`): with the top `retrieval.k`
passages from the index for `retrieved` (questions below `retrieval.min_score` or
`retrieval.min_query_match` get no prompt there, and none here), the bare question for `none`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.config import Params
from docent.io import atomic_dir, atomic_write, read_jsonl
from docent.runtime import peak_rss_mb

log = logging.getLogger(__name__)

GGUF_NAME = "model.gguf"
ROUND_TRIP_SPLITS = ("test", "test_unseen", "test_absent")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


def _check_architecture(source: str, trust_remote_code: bool) -> None:
    from transformers import AutoConfig

    from docent.export.gguf_file import gguf_architecture

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise UserError(f"{source}: cannot read the model config ({str(exc).splitlines()[0][:160]})") from None
    gguf_architecture(config)


def merged_model(finetuned_dir: Path, manifest: dict[str, Any], params: Params, model_cache: Path) -> Any:
    """The model evaluate evaluated, as one plain model: adapter merged (QLoRA: into the dequantised
    base it was trained against), or the full fine-tune's weights."""
    from docent.modeling.adapters import merge_adapter
    from docent.modeling.loading import load_base_model, resolve_model_source

    assert params.model is not None
    method = str(manifest.get("method"))
    if method == "full":
        full = dataclasses.replace(params.model, name=str(finetuned_dir), allow_pickle=False)
        _check_architecture(resolve_model_source(full, model_cache), params.model.trust_remote_code)
        model = load_base_model(full, model_cache)
    elif method in ("lora", "qlora"):
        base = dataclasses.replace(params.model, name=str(manifest.get("base_model", params.model.name)))
        _check_architecture(resolve_model_source(base, model_cache), params.model.trust_remote_code)
        model = merge_adapter(finetuned_dir, method, base, model_cache, params.quant)
    else:
        raise UserError(f"{finetuned_dir}: unknown fine-tuning method {method!r} in its manifest")
    model.eval()
    return model


def verification_prompts(tokenizer: Any, questions: list[str], context: str, params: Params,
                         index_dir: Path) -> list[str]:
    """The prompts evaluate builds for these questions (docent.assistant.answer.AnswerPath)."""
    from docent.assistant.answer import AnswerPath

    assert params.retrieval is not None and params.assistant is not None
    retriever = None
    if context == "retrieved":
        from docent.retrieval.build import index_manifest
        from docent.retrieval.index import load_index

        retriever = load_index(index_dir, expect=index_manifest(params.retrieval),
                               answer_type_bonus=params.retrieval.answer_type_bonus)
    path = AnswerPath(tokenizer, retriever=retriever, k=params.retrieval.k, min_score=params.retrieval.min_score,
                      abstain=params.assistant.abstain, min_query_match=params.retrieval.min_query_match,
                      min_similarity=params.retrieval.min_similarity)
    return [p.prompt for p in (path.plan(q) for q in questions) if p.prompt is not None]


def check_template(template: str, tokenizer: Any) -> bool:
    """The Modelfile TEMPLATE renders one- and two-turn conversations as training did."""
    from docent.export.modelfile import render_template
    from docent.modeling.prompt import prompt_text

    q1, a1, q2 = "Who founded Hanoi?", "Lý Thái Tổ founded it in 1010.", "When?"
    one = [{"role": "user", "content": q1}]
    two = [*one, {"role": "assistant", "content": a1}, {"role": "user", "content": q2}]
    return (render_template(template, one) == prompt_text(tokenizer, q1)
            and render_template(template, two) == prompt_text(tokenizer, q2, [(q1, a1)]))


def run_export(params: Params, *, finetuned_dir: Path, split_dir: Path, index_dir: Path, model_cache: Path,
               out_dir: Path) -> dict[str, Any]:
    """Write `out_dir`; return its flat metrics (machine figures by their `*_s` / `*_mb` names)."""
    import torch

    from docent.evaluation.charts import params_hash
    from docent.export import gguf_file, modelfile, verify
    from docent.modeling.generation import generate_answers
    from docent.modeling.loading import EMBEDDED, embedded_gguf_path, load_tokenizer, read_manifest
    from docent.modeling.prompt import chat_messages, has_chat_template, prompt_text, stop_token_ids

    assert params.export is not None and params.model is not None and params.eval is not None
    assert params.assistant is not None
    export = params.export
    started = time.perf_counter()
    manifest = read_manifest(finetuned_dir)
    if not export.enabled:
        with atomic_dir(out_dir) as tmp:
            (tmp / "README.md").write_text("# docent export\n\nDisabled (`export.enabled: false`).\n",
                                           encoding="utf-8")
        return {"enabled": False}
    method = str(manifest.get("method"))
    if not _has_tokenizer(finetuned_dir):
        raise UserError(f"{finetuned_dir}: no tokenizer files ({', '.join(_TOKENIZER_FILES)}) beside the "
                        f"{'full fine-tune' if method == 'full' else 'adapter'}; re-run `dvc repro finetune`")
    context = str(manifest.get("context", "none"))
    rows = {s: read_jsonl(split_dir / f"{s}.jsonl", required=("question",), nonempty=("question",),
                          allow_empty_file=s != "test") for s in ROUND_TRIP_SPLITS}
    questions = [str(r["question"]) for r in rows["test"]]
    round_trip = [str(r["question"]) for s in ROUND_TRIP_SPLITS for r in rows[s]][:verify.ROUND_TRIP_QUESTIONS]
    torch.manual_seed(params.seed or 0)

    t = time.perf_counter()
    merged = merged_model(finetuned_dir, manifest, params, model_cache)
    tokenizer = load_tokenizer(str(finetuned_dir), params.model.trust_remote_code)
    merge_s = time.perf_counter() - t
    base_name = str(manifest.get("base_model", params.model.name))
    base_gguf = embedded_gguf_path() if base_name == EMBEDDED else None
    template = modelfile.ollama_template(modelfile.turn_format(tokenizer))
    if not check_template(template, tokenizer):
        raise UserError("export: the Ollama TEMPLATE derived from the chat template does not render the trained "
                        "prompt; the chat template is not one fixed text per role")
    stops = modelfile.stop_strings(tokenizer)

    with atomic_dir(out_dir) as tmp:
        t = time.perf_counter()
        counts = gguf_file.write_gguf(tmp / GGUF_NAME, merged, tokenizer, export.gguf_type, base_gguf=base_gguf,
                                      tokenizer_dir=finetuned_dir, name=f"docent {Path(base_name).name}")
        write_s = time.perf_counter() - t
        size = (tmp / GGUF_NAME).stat().st_size

        t = time.perf_counter()
        # in the merged model's dtype (float32 on a CPU, bf16 for a big model on a GPU), on its device
        exported, exported_tok = verify.load_exported(tmp, GGUF_NAME, dtype=merged.dtype)
        exported.to(next(merged.parameters()).device)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        prompts = verification_prompts(tokenizer, questions, context, params, Path(index_dir))
        if not prompts:
            raise UserError(f"{split_dir}/test.jsonl: no question gets a prompt; nothing to verify the export on")
        prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        same_prompt_ids = sum(exported_tok(p, add_special_tokens=False)["input_ids"] == ids
                              for p, ids in zip(prompts, prompt_ids, strict=True))
        same_questions, n_round_trip = verify.tokenizer_round_trip(tokenizer, exported_tok, round_trip)
        chat_match = True
        if has_chat_template(tokenizer) and getattr(exported_tok, "chat_template", None):
            # llama.cpp's chat mode renders the file's template without a system message
            q = questions[0]
            chat_match = exported_tok.apply_chat_template(chat_messages(q), tokenize=False,
                                                          add_generation_prompt=True) == prompt_text(tokenizer, q)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        answers = [list(g.token_ids) for g in generate_answers(
            merged, tokenizer, prompts, max_new_tokens=params.eval.max_new_tokens,
            batch_size=params.eval.batch_size, stop_ids=stop_token_ids(tokenizer))]
        comparison = verify.compare(merged, exported, prompt_ids, answers, pad_id=int(pad_id))
        verify_s = time.perf_counter() - t
        del exported

        tolerance, least_identical = verify.TOLERANCES[export.gguf_type]
        metrics: dict[str, Any] = {
            "enabled": True,
            "gguf_type": export.gguf_type,
            "method": method,
            "base_from_gguf": base_gguf is not None,
            "gguf_bytes": size,
            "tensors": sum(counts.values()),
            **{f"tensors_{k.lower()}": v for k, v in sorted(counts.items())},
            "verify_prompt": "with_context" if context == "retrieved" else "closed_book",
            "verify_prompts": comparison.prompts,
            "verify_answer_tokens": comparison.answer_tokens,
            "greedy_identical": round(comparison.greedy_identical, 4),
            "greedy_identical_min": least_identical,
            "merged_self_agreement": round(comparison.merged_self_agreement, 4),
            "max_logit_diff": round(comparison.max_logit_diff, 5),
            "mean_logit_diff": round(comparison.mean_logit_diff, 6),
            "logit_tolerance": tolerance,
            "prompt_ids_identical": round(same_prompt_ids / len(prompts), 4),
            "round_trip_questions": n_round_trip,
            "round_trip_identical": round(same_questions / max(n_round_trip, 1), 4),
            "chat_template_match": chat_match,
            "modelfile_template_match": True,
        }
        problems = []
        if comparison.max_logit_diff > tolerance:
            problems.append(f"max logit difference {comparison.max_logit_diff:.4g} > {tolerance:g}")
        if comparison.greedy_identical < least_identical:
            problems.append(f"greedy answers identical {comparison.greedy_identical:.3f} < {least_identical:g}")
        if same_prompt_ids != len(prompts) or same_questions != n_round_trip:
            problems.append(f"tokenizer ids differ ({len(prompts) - same_prompt_ids} prompts, "
                            f"{n_round_trip - same_questions} questions)")
        if not chat_match:
            problems.append("the GGUF's chat template does not render the trained prompt")
        if problems:
            raise UserError(f"export.gguf_type = {export.gguf_type!r}: the GGUF does not match the merged model on "
                            f"{comparison.prompts} test prompts: {'; '.join(problems)} (max logit difference "
                            f"{comparison.max_logit_diff:.4g}; the previous export, if "
                            f"any, is unchanged; f16 or f32 keep more precision)")

        header = (f"docent export of {base_name} + {method} fine-tune ({manifest.get('steps')} steps), "
                  f"params {params_hash(manifest.get('params', {}))}, {export.gguf_type}")
        abstain = str(manifest.get("abstain") or params.assistant.abstain)
        with atomic_write(tmp / "Modelfile") as fh:
            fh.write(modelfile.modelfile_text(template, stops, context=context, abstain=abstain, header=header))
        info = {**metrics, "base_model": base_name, "steps": manifest.get("steps"),
                "params_hash": params_hash(manifest.get("params", {})),
                "tensor_types": ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))}
        with atomic_write(tmp / "README.md") as fh:
            fh.write(modelfile.readme_text(info, context=context, abstain=abstain, stops=stops))
    metrics.update({
        "merge_s": round(merge_s, 2),
        "write_s": round(write_s, 2),
        "load_gguf_s": round(load_s, 2),
        "verify_s": round(verify_s, 2),
        "total_s": round(time.perf_counter() - started, 2),
        "gguf_size_mb": round(size / 2**20, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })
    log.info("export: %s", ", ".join(f"{k}={v}" for k, v in metrics.items()))
    return metrics
