"""GGUF export on a tiny randomly initialised Llama built here: written for f32 and q8_0 (and f16),
read back with transformers' GGUF loader, logits within tolerance, tokenizer ids identical; the
Modelfile TEMPLATE renders as the chat template does; refusals with one line."""

from __future__ import annotations

import errno
import json

import pytest
from click.testing import CliRunner
from tiny_models import CHATML_TEMPLATE, REPO, SMOLLM_LIKE_TEMPLATE, build_tiny_bpe_tokenizer, build_tiny_llama

from docent.cli import UserError
from docent.export import gguf_file, modelfile, verify
from docent.modeling.generation import generate_answers

TEXTS = ["Who founded Hanoi?", "Hồ Chí Minh was born in 1890 .", "<|im_start|>user\nTell me about Huế<|im_end|>\n",
         "What is the capital city of Vietnam ?"]
# Logit tolerance on this tiny model (hidden size 32) per type
TINY_TOLERANCE = {"f32": 1e-5, "f16": 5e-3, "q8_0": 5e-2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny_hub")
    tokenizer = build_tiny_bpe_tokenizer(SMOLLM_LIKE_TEMPLATE)
    model = build_tiny_llama(len(tokenizer))
    with torch.no_grad():  # a visible q/k: the permutation must be undone exactly
        for p in model.parameters():
            p.normal_(0, 0.2)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def _logits(model, tokenizer, text):
    import torch

    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        return model(ids).logits


@pytest.mark.parametrize("gguf_type", ["f32", "q8_0", "f16"])
def test_gguf_round_trip_through_transformers(tiny, tmp_path, gguf_type):
    folder, model, tokenizer = tiny
    counts = gguf_file.write_gguf(tmp_path / "model.gguf", model, tokenizer, gguf_type, base_gguf=None,
                                  tokenizer_dir=folder, name="tiny")
    expected = {"f32": "F32", "f16": "F16", "q8_0": "Q8_0"}[gguf_type]
    assert counts[expected] >= 7 * 4  # every matrix of every block
    exported, exported_tok = verify.load_exported(tmp_path, "model.gguf")
    assert exported.config.tie_word_embeddings
    for text in TEXTS:
        assert exported_tok(text, add_special_tokens=False)["input_ids"] == tokenizer(text, add_special_tokens=False)[
            "input_ids"]
        diff = (_logits(model, tokenizer, text) - _logits(exported, tokenizer, text)).abs().max().item()
        assert diff <= TINY_TOLERANCE[gguf_type], (gguf_type, text, diff)
    same, n = verify.tokenizer_round_trip(tokenizer, exported_tok, TEXTS)
    assert same == n
    # the file's chat template opens with the empty system turn training used, not the default prompt
    messages = [{"role": "user", "content": "Who founded Hanoi?"}]
    from docent.modeling.prompt import prompt_text

    assert exported_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == prompt_text(
        tokenizer, "Who founded Hanoi?")


def test_carry_over_from_a_base_gguf_replaces_only_the_tensors(tiny, tmp_path):
    import torch

    folder, model, tokenizer = tiny
    gguf_file.write_gguf(tmp_path / "base.gguf", model, tokenizer, "f32", base_gguf=None, tokenizer_dir=folder,
                         name="tiny")
    merged = build_tiny_llama(len(tokenizer), seed=1)  # "fine-tuned" weights, same shapes
    with torch.no_grad():
        for p in merged.parameters():
            p.normal_(0, 0.2)
    merged.eval()
    out = tmp_path / "out"
    gguf_file.write_gguf(out / "model.gguf", merged, tokenizer, "f32", base_gguf=tmp_path / "base.gguf",
                         tokenizer_dir=folder, name="unused")
    exported, exported_tok = verify.load_exported(out, "model.gguf")
    for text in TEXTS:
        assert (_logits(merged, tokenizer, text) - _logits(exported, tokenizer, text)).abs().max().item() <= 1e-5
        assert exported_tok(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_compare_counts_identical_greedy_answers(tiny, tmp_path):
    folder, model, tokenizer = tiny
    gguf_file.write_gguf(tmp_path / "model.gguf", model, tokenizer, "f32", base_gguf=None, tokenizer_dir=folder,
                         name="tiny")
    exported, _ = verify.load_exported(tmp_path, "model.gguf")
    prompts = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    answers = [list(g.token_ids) for g in generate_answers(model, tokenizer, TEXTS, max_new_tokens=6, batch_size=2,
                                                           stop_ids=[2])]
    assert all(answers)
    result = verify.compare(model, exported, prompts, answers, pad_id=3)
    assert result.prompts == len(TEXTS)
    assert result.greedy_identical == 1.0 and result.merged_self_agreement == 1.0
    assert result.max_logit_diff <= 1e-4


# ---------------------------------------------------------------- the Modelfile

@pytest.mark.parametrize("template", [CHATML_TEMPLATE, SMOLLM_LIKE_TEMPLATE, None], ids=["chatml", "default-system",
                                                                                        "plain"])
def test_modelfile_template_renders_the_chat_template(template):
    from docent.modeling.prompt import prompt_text

    tokenizer = build_tiny_bpe_tokenizer(template)
    go = modelfile.ollama_template(modelfile.turn_format(tokenizer))
    q1, a1, q2 = "Who founded Hanoi?", "Lý Thái Tổ, in 1010.", "When did he die?"
    two_turns = [{"role": "user", "content": q1}, {"role": "assistant", "content": a1},
                 {"role": "user", "content": q2}]
    # the chat template's rendering of the same conversation, as training and evaluate build it
    assert modelfile.render_template(go, two_turns) == prompt_text(tokenizer, q2, [(q1, a1)])
    if template is not None:
        with_system = [{"role": "system", "content": "Be brief."}, *two_turns]
        assert modelfile.render_template(go, with_system) == tokenizer.apply_chat_template(
            with_system, tokenize=False, add_generation_prompt=True)
    if template == SMOLLM_LIKE_TEMPLATE:  # the empty system turn, not the default prompt
        assert modelfile.render_template(go, two_turns).startswith("<|im_start|>system\n<|im_end|>\n")


def test_renderer_follows_go_semantics_for_the_constructs_used():
    template = ('{{ range $i, $m := .Messages }}{{ if and (eq $i 0) (ne $m.Role "system") }}S{{ end }}'
                '{{ if eq $m.Role "user" }}U:{{ $m.Content }};{{ else if eq $m.Role "system" }}Y{{ else }}A'
                '{{ end }}{{ end }}G')
    msgs = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    assert modelfile.render_template(template, msgs) == "SU:x;AG"
    assert modelfile.render_template(template, [{"role": "system", "content": ""}]) == "YG"
    with pytest.raises(ValueError):
        modelfile.render_template("{{- .Prompt }}", msgs)


def test_modelfile_text_has_from_template_and_stops():
    tokenizer = build_tiny_bpe_tokenizer(SMOLLM_LIKE_TEMPLATE)
    go = modelfile.ollama_template(modelfile.turn_format(tokenizer))
    text = modelfile.modelfile_text(go, modelfile.stop_strings(tokenizer), context="retrieved",
                                    abstain="I don't know.", header="test")
    assert "FROM ./model.gguf\n" in text
    assert f'TEMPLATE """{go}"""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert "#   Answer from the sources. If they do not say, reply: I don't know." in text
    assert "\nSYSTEM" not in text


# ---------------------------------------------------------------- refusals

def test_unsupported_architecture_is_refused_in_one_line(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=400))
    tokenizer = build_tiny_bpe_tokenizer()
    with pytest.raises(UserError) as err:
        gguf_file.write_gguf(tmp_path / "model.gguf", model, tokenizer, "f16", base_gguf=None,
                             tokenizer_dir=tmp_path, name="gpt2")
    message = err.value.format_message()
    assert "\n" not in message and "'gpt2'" in message and "llama, mistral, qwen2" in message
    assert not (tmp_path / "model.gguf").exists()


def test_disk_full_keeps_the_previous_file(tiny, tmp_path, monkeypatch):
    import gguf

    folder, model, tokenizer = tiny
    target = tmp_path / "model.gguf"
    target.write_bytes(b"previous good export")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", full)
    with pytest.raises(UserError, match="disk full"):
        gguf_file.write_gguf(target, model, tokenizer, "f16", base_gguf=None, tokenizer_dir=folder, name="t")
    assert target.read_bytes() == b"previous good export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]  # no temporary file left


def test_gguf_type_outside_the_list_is_a_params_error(tmp_path):
    import yaml

    from docent.config import ParamsError, load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["export"]["gguf_type"] = "q4_0"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"export.gguf_type = 'q4_0': must be one of 'f16', 'q8_0', 'f32'"):
        load_params(path, "export")


def test_stage_refuses_full_fine_tune_without_tokenizer(tmp_path):
    from stages.export import main

    finetuned = tmp_path / "finetuned"
    finetuned.mkdir()
    (finetuned / "docent.json").write_text(json.dumps({"method": "full", "base_model": "embedded"}))
    result = CliRunner().invoke(main, [
        "--params", str(REPO / "params.yaml"), "--finetuned", str(finetuned), "--split-dir", str(tmp_path),
        "--index", str(tmp_path), "--model-cache", str(tmp_path / "cache"), "--out", str(tmp_path / "export"),
        "--metrics", str(tmp_path / "m.json"), "--machine-metrics", str(tmp_path / "mm.json")])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no tokenizer files" in errors[0]
