"""Output contract of `python -m stages.evaluate` on a tiny random Llama + tiny LoRA adapter + tiny classifier."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tiny_models import REPO, SHARP_LLAMA, build_tiny_tokenizer, save_tiny_model

from docent.io import write_jsonl

MODELS = ("base", "base_fewshot", "finetuned")
SPLITS = ("test", "test_unseen")
GRID_MODELS = ("base", "finetuned", "base_rag", "finetuned_rag", "assistant")
GRID_SPLITS = ("test", "test_unseen", "test_absent", "natural")
SCORES = ("sentence_bleu", "bleu", "chrf", "rouge_l", "exact_match", "f1")
OUTPUTS = ("eval.json", "machine_eval.json", "answers.csv", "report.md", "eval_plot.json", "charts")

TRAIN = [
    ("Who was Hồ Chí Minh?", "Hồ Chí Minh was a Vietnamese revolutionary.", 1),
    ("When was Hồ Chí Minh born?", "Hồ Chí Minh was born in 1890.", 2),
    ("What is the capital of Vietnam?", "The capital of Vietnam is Hanoi.", 3),
    ("Who founded the Lê dynasty?", "Lê Lợi founded the Lê dynasty.", 4),
    ("Which city was the capital of the Nguyễn dynasty?", "Huế was the capital.", 5),
    ("Who were the Trưng sisters?", "The Trưng sisters were leaders who fought the Han.", 6),
]
TEST = [
    ("Tell me who Hồ Chí Minh was?", "Hồ Chí Minh was a Vietnamese revolutionary.", 1),
    ("In which year was Hồ Chí Minh born?", "1890", 2),
    ("Which city is the capital of Vietnam?", "Hanoi", 3),
    ("Who was the founder of the Lê dynasty?", "Lê Lợi", 4),
    ("What was the Nguyễn capital?", "Huế", 5),
    ("Who were the two Trưng sisters?", "leaders who fought the Han", 6),
    ("Name the capital of Vietnam?", "Hanoi is the capital of Vietnam.", 3),
]
UNSEEN = [
    ("When did the Vietnam war end?", "The war ended in 1975.", 7),
    ("What language is spoken in Vietnam?", "Vietnamese is spoken in Vietnam.", 8),
]
ABSENT = [("Who ruled the kingdom of Champa?", "The Cham kings ruled Champa from Indrapura.", 9)]
NATURAL = [{"id": "nq1", "domain": "Vietnamese history", "question": "who was uncle ho",
            "answer": "Hồ Chí Minh was a Vietnamese revolutionary.", "short_answer": "revolutionary"},
           {"id": "nq2", "domain": "Vietnamese history", "question": "capital of vietnam",
            "answer": "The capital of Vietnam is Hanoi.", "short_answer": "Hanoi"},
           {"id": "nq3", "domain": "Vietnamese history", "question": "when did le loi win", "answer": "In 1428.",
            "short_answer": "1428", "doc_title": "Lê Lợi"},  # no passage of it is indexed: held out, not asked
           {"id": "x1", "domain": "astronomy", "question": "how hot is the sun", "answer": "Hot.",
            "short_answer": "hot"}]  # another domain's row: not asked
REFUSAL = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["assistant"]["refusal"]
ABSTAIN = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["assistant"]["abstain"]
UNRELATED = ["How do I bake bread?", "Who won the football world cup?", "What is the weather in Paris?",
             "How does a car engine work?"]
RELATED_TRAIN = [q for q, _, _ in TRAIN] + ["Who was Lê Lợi?", "When did the French leave Indochina?"]
UNRELATED_TRAIN = ["What is a good recipe for pizza?", "Who sings this song?", "How do I fix my bicycle?",
                   "What is the best phone to buy?", "How many calories are in an apple?"]


def _qa_rows(rows, prefix):
    # the short answer: the reference's last word ("... born in 1890." -> "1890")
    return [{"id": f"{prefix}-{i}", "question": q, "answer": a, "short_answer": a.split()[-1].strip("."),
             "doc_id": "d", "sent_ids": [i], "fact_id": f, "qtype": "who", "generator": "rules"}
            for i, (q, a, f) in enumerate(rows)]


def _save_index(path: Path) -> None:
    """The facts of train, test and test_unseen as one document per fact, indexed as the index stage does."""
    from docent.config import load_params
    from docent.retrieval.build import index_manifest
    from docent.retrieval.index import PassageIndex
    from docent.retrieval.passages import build_passages

    retrieval = load_params(REPO / "params.yaml", "retrieval").retrieval
    # a fact's document is its longest answer, the source sentence ("The Trưng sisters were leaders
    # who fought the Han.", not the test reference "leaders who fought the Han")
    facts: dict[int, str] = {}
    for _, answer, fact in TRAIN + TEST + UNSEEN:
        facts[fact] = max(facts.get(fact, ""), answer, key=len)
    sentences = [{"doc_id": f"doc{f}", "title": f"Fact {f}", "sent_id": f"doc{f}#0", "text": a}
                 for f, a in sorted(facts.items())]
    PassageIndex.build(build_passages(sentences, retrieval.passage_words), index_manifest(retrieval)).save(path)


def _save_adapter(base_dir: Path, out: Path, tokenizer) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    torch.manual_seed(7)
    # init_lora_weights=False: random A and B, so the adapter really changes the model
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(base, config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "docent.json").write_text(json.dumps({"method": "lora", "base_model": str(base_dir)}), encoding="utf-8")


def _save_classifier(path: Path) -> None:
    """Trained and saved by the relevance module itself, so load_classifier reads it as in the pipeline."""
    from docent.config import load_params
    from docent.relevance.classifier import RelevanceClassifier, save_classifier, train_classifier

    params = load_params(REPO / "params.yaml", "classifier").classifier
    pipeline = train_classifier(RELATED_TRAIN, UNRELATED_TRAIN, params, seed=0)
    path.mkdir()
    save_classifier(RelevanceClassifier(pipeline=pipeline, threshold=0.5), path, params, seed=0)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    tokenizer = build_tiny_tokenizer()
    base = save_tiny_model(root / "base", tokenizer, **SHARP_LLAMA)
    _save_adapter(base, root / "finetuned", tokenizer)
    _save_classifier(root / "classifier")

    split = root / "split"
    write_jsonl(split / "train.jsonl", _qa_rows(TRAIN, "train"))
    write_jsonl(split / "test.jsonl", _qa_rows(TEST, "test"))
    write_jsonl(split / "test_unseen.jsonl", _qa_rows(UNSEEN, "unseen"))
    write_jsonl(split / "test_absent.jsonl", _qa_rows(ABSENT, "absent"))
    write_jsonl(root / "natural.jsonl", NATURAL)
    _save_index(root / "index")
    write_jsonl(split / "unrelated_test.jsonl",
                [{"id": f"u-{i}", "question": q, "source": "snapshot"} for i, q in enumerate(UNRELATED)])

    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["model"]["name"] = str(base)
    # a few one-sentence documents score under the repo's retrieval.min_score: both floors off here
    raw["retrieval"].update({"min_score": 0.0, "min_query_match": 0.0, "abstain_min_prob": 0.0})
    raw["eval"].update({"max_new_tokens": 6, "batch_size": 4, "few_shot_k": 2, "max_questions": 5,
                        "unrelated_questions": 3,
                        "probe_questions": ["Who was Hồ Chí Minh?", "What is the capital of Vietnam?"]})
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    live = root / "train"  # what dvclive writes during finetune
    (live / "plots/metrics/train").mkdir(parents=True)
    (live / "plots/metrics/eval").mkdir(parents=True)
    (live / "plots/metrics/train/loss.tsv").write_text("step\tloss\n1\t2.0\n2\t1.5\n3\t1.2\n", encoding="utf-8")
    (live / "plots/metrics/eval/loss.tsv").write_text("step\tloss\n0\t2.1\n3\t1.4\n", encoding="utf-8")
    return {"root": root, "params": params, "finetuned": root / "finetuned", "classifier": root / "classifier",
            "split": split, "cache": root / "cache", "live": live, "index": root / "index",
            "natural": root / "natural.jsonl"}


def _run(ws: dict[str, Path], out: Path, **overrides: Path):
    from stages.evaluate import main

    paths = {**ws, **overrides}
    args = ["--params", paths["params"], "--finetuned", paths["finetuned"], "--classifier", paths["classifier"],
            "--split-dir", paths["split"], "--index", paths["index"], "--natural", paths["natural"],
            "--model-cache", paths["cache"], "--live-dir", paths["live"],
            "--metrics", out / "eval.json",
            "--machine-metrics", out / "machine_eval.json", "--answers", out / "answers.csv",
            "--report", out / "report.md", "--plot", out / "eval_plot.json", "--charts", out / "charts"]
    return CliRunner().invoke(main, [str(a) for a in args])


def test_stage_output_contract(workspace, tmp_path):
    out = tmp_path / "metrics"
    result = _run(workspace, out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # exactly these, no temp files left

    metrics = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values())  # flat numbers
    for split in SPLITS:
        for model in MODELS:
            for score in SCORES:
                assert f"{model}.{split}.{score}" in metrics
            assert f"{model}.{split}.hit_max_new_tokens" in metrics
        for score in (*SCORES, "perplexity"):
            assert metrics[f"delta.{split}.{score}"] == pytest.approx(
                metrics[f"finetuned.{split}.{score}"] - metrics[f"base.{split}.{score}"], abs=2e-6)
        assert metrics[f"base.{split}.perplexity"] > 1
        # the adapter is switched off for the base rows: the two models differ
        assert metrics[f"base.{split}.perplexity"] != metrics[f"finetuned.{split}.perplexity"]
        assert f"base_fewshot.{split}.perplexity" not in metrics
    # the fact grid: every model, closed-book and with retrieval, on every split; shares sum to 1
    for split in GRID_SPLITS:
        for model in GRID_MODELS:
            shares = [metrics[f"{model}.{split}.{o}"] for o in ("correct", "wrong", "abstained")]
            assert all(0 <= x <= 1 for x in shares) and sum(shares) == pytest.approx(1, abs=1e-5)
        assert f"base_fewshot.{split}.correct" in metrics or split in ("test_absent", "natural")
    # a random tiny model never writes the abstention: abstained only where the gate refused, or
    # where retrieval found nothing (test_absent's "Who ruled the kingdom of Champa?" shares no
    # searched word with the index: the abstention without running the model)
    for split in GRID_SPLITS:
        nothing_found = 1.0 if split == "test_absent" else 0.0
        assert metrics[f"finetuned_rag.{split}.abstained"] == nothing_found
        assert metrics[f"assistant.{split}.abstained"] == max(metrics[f"assistant.{split}.refused"], nothing_found)
    assert metrics["n_questions.test_absent"] == 1 and metrics["n_questions.natural"] == 2
    assert metrics["n_questions_on_held_out_documents.natural"] == 1
    assert metrics["n_questions.test"] == 5 and metrics["n_questions_available.test"] == 7  # eval.max_questions
    assert metrics["n_questions.test_unseen"] == 2
    assert metrics["classifier.n_related"] == 7 and metrics["classifier.n_unrelated"] == 3
    assert 0 <= metrics["classifier.accuracy"] <= 1
    assert metrics["few_shot_examples"] == 2 and metrics["probe_questions"] == 2
    machine = json.loads((out / "machine_eval.json").read_text())
    assert machine["total_s"] > 0 and machine["model_load_s"] > 0 and "total_s" not in metrics

    with open(out / "answers.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["split"] for r in rows] == ["test"] * 5 + ["test_unseen"] * 2 + ["test_absent"] + ["natural"] * 2
    assert all(r["finetuned_rag_outcome"] in ("correct", "wrong", "abstained") for r in rows)
    assert all(r["finetuned_rag_sources"].startswith("Fact ") for r in rows
               if r["finetuned_rag_outcome"] != "abstained")
    asked = {q for q, _, _ in TEST + UNSEEN + ABSENT} | {n["question"] for n in NATURAL}
    assert {r["question"] for r in rows} <= asked
    for r in rows:
        for model in GRID_MODELS:
            assert f"{model}_answer" in r and 0 <= float(r[f"{model}_f1"]) <= 1
        if r["split"] in SPLITS:
            assert float(r["base_perplexity"]) > 1 and float(r["finetuned_perplexity"]) > 1

    # eval.json's shares and means are those of answers.csv's rows
    for split in GRID_SPLITS:
        split_rows = [r for r in rows if r["split"] == split]
        for model in GRID_MODELS:
            for outcome in ("correct", "wrong", "abstained"):
                share = sum(r[f"{model}_outcome"] == outcome for r in split_rows) / len(split_rows)
                assert metrics[f"{model}.{split}.{outcome}"] == pytest.approx(share, abs=1e-6), (model, split)
            for score in ("exact_match", "f1"):
                mean = sum(float(r[f"{model}_{score}"]) for r in split_rows) / len(split_rows)
                assert metrics[f"{model}.{split}.{score}"] == pytest.approx(mean, abs=1e-4), (model, split, score)
        refused = sum(r["assistant_answer"] == REFUSAL for r in split_rows) / len(split_rows)
        assert metrics[f"assistant.{split}.refused"] == pytest.approx(refused, abs=1e-6)

    plot = json.loads((out / "eval_plot.json").read_text(encoding="utf-8"))
    assert plot and all(set(p) == {"metric", "value"} for p in plot)
    assert all(p["value"] == metrics[f"{p['metric'].split('(')[1][:-1]}.{p['metric'].split()[0]}."
                                     f"{p['metric'].split()[1]}"] for p in plot)
    assert {"test sentence_bleu (base)", "test sentence_bleu (finetuned)",
            "test_unseen f1 (base_fewshot)"} <= {p["metric"] for p in plot}

    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Facts: correct / wrong / abstained", "## test:", "## test_unseen:", "## test_absent:",
                    "## natural:", "## Relevance classifier", "## Probe questions", "| fine-tuned |",
                    "| base few-shot |", "| fine-tuned + retrieval |"):
        assert heading in report
    assert "Who was Hồ Chí Minh?" in report
    # the charts beside the report, linked by relative paths a Markdown viewer resolves
    assert sorted(p.name for p in (out / "charts").iterdir()) == ["accuracy.png", "loss.png"]
    for name in ("loss.png", "accuracy.png"):
        assert f"](charts/{name})" in report
        assert (out / "charts" / name).read_bytes().startswith(b"\x89PNG")
    assert "![train and eval loss per step](charts/loss.png)" in report
    assert report.count("params `") == 2

    # Same params -> byte-identical data outputs (timings live only in eval.json's *_s keys).
    again = tmp_path / "again"
    assert _run(workspace, again).exit_code == 0
    for name in ("answers.csv", "report.md", "eval_plot.json", "charts/loss.png", "charts/accuracy.png"):
        assert (again / name).read_bytes() == (out / name).read_bytes()
    second = json.loads((again / "eval.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in second.items() if not k.endswith("_s")} == {
        k: v for k, v in metrics.items() if not k.endswith("_s")}


def test_a_run_without_dvclive_files_gets_a_no_data_chart(workspace, tmp_path):
    """A trial whose finetune logged no training step (empty dvclive folder): the stage still writes it all."""
    live = tmp_path / "train"
    live.mkdir()
    out = tmp_path / "metrics"
    result = _run(workspace, out, live=live)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "![loss per step: no data](charts/loss.png)" in report
    assert (out / "charts" / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_missing_manifest_is_a_user_error(workspace, tmp_path):
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    result = _run(workspace, tmp_path / "m", finetuned=not_a_model)
    assert result.exit_code == 2
    assert "docent.json" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_empty_test_splits_are_a_user_error(workspace, tmp_path):
    split = tmp_path / "split"
    split.mkdir()
    for name in ("train", "unrelated_test"):
        (split / f"{name}.jsonl").write_bytes((workspace["split"] / f"{name}.jsonl").read_bytes())
    for name in ("test", "test_unseen", "test_absent"):
        (split / f"{name}.jsonl").write_text("", encoding="utf-8")
    result = _run(workspace, tmp_path / "m", split=split, natural=tmp_path / "no-natural.jsonl")
    assert result.exit_code == 2 and "nothing to evaluate" in result.output


def test_merged_adapter_is_the_same_model_and_is_undone(workspace):
    """The fine-tuned pass merges the LoRA weights for speed: same NLL as unmerged, and unmerged afterwards."""
    import torch

    from docent.config import load_params
    from docent.modeling.generation import answer_nll
    from docent.modeling.lifecycle import BASE, FINETUNED, load_model_set

    params = load_params(workspace["params"], "seed", "model", "quant", "eval")
    models = load_model_set(workspace["finetuned"], params.model, params.quant, workspace["cache"], full_base=True)
    pairs = [(q, a) for q, a, _ in TEST]
    unmerged = answer_nll(models.model, models.tokenizer, pairs, batch_size=4, max_len=512)
    with models.use(BASE) as base:
        base_nll = answer_nll(base, models.tokenizer, pairs, batch_size=4, max_len=512)
    weights = {k: v.clone() for k, v in models.model.state_dict().items()}
    with models.use(FINETUNED, merged=True) as merged_model:
        merged = answer_nll(merged_model, models.tokenizer, pairs, batch_size=4, max_len=512)
    for a, b, c in zip(unmerged, merged, base_nll, strict=True):
        assert b.nll == pytest.approx(a.nll, rel=1e-4)
        assert abs(c.nll - a.nll) > 1e-3  # the adapter matters, so equality above is not vacuous
    after = models.model.state_dict()
    assert all(torch.allclose(after[k], v, atol=1e-6) for k, v in weights.items())


def test_scores_follow_from_the_answers(workspace, tmp_path, monkeypatch):
    """Generation scripted per question: test answered with the reference itself, test_unseen with a
    wrong sentence, test_absent with the abstention, natural with the reference. Every model then
    gets the scores these answers must get, computed here by hand."""
    import docent.evaluation.runner as runner
    from docent.modeling.generation import Generation

    script = {q: a for q, a, _ in TEST} | {q: "I know nothing." for q, _, _ in UNSEEN}
    script |= {q: ABSTAIN for q, _, _ in ABSENT} | {n["question"]: n["answer"] for n in NATURAL}

    def scripted(model, tokenizer, prompts, **kwargs):
        answers = []
        for prompt in prompts:  # the question asked is the last one in the prompt (few-shot turns come first)
            asked = max((q for q in script if q in prompt), key=lambda q: (prompt.rfind(q), len(q)), default=None)
            answers.append(Generation(text=script[asked] if asked else "A probe answer.", hit_limit=False))
        return answers

    monkeypatch.setattr(runner, "generate_answers", scripted)
    out = tmp_path / "metrics"
    result = _run(workspace, out)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "eval.json").read_text(encoding="utf-8"))

    closed_and_rag = ("base", "finetuned", "base_rag", "finetuned_rag")
    for model in (*closed_and_rag, "base_fewshot"):
        # the reference word for word: exact match, F1 and ROUGE-L 1, and it states the short answer
        assert (m[f"{model}.test.exact_match"], m[f"{model}.test.f1"], m[f"{model}.test.rouge_l"]) == (1, 1, 1)
        assert (m[f"{model}.test.correct"], m[f"{model}.test.wrong"], m[f"{model}.test.abstained"]) == (1, 0, 0)
        # "I know nothing." shares no word with either reference
        assert (m[f"{model}.test_unseen.exact_match"], m[f"{model}.test_unseen.f1"]) == (0, 0)
        assert (m[f"{model}.test_unseen.correct"], m[f"{model}.test_unseen.wrong"]) == (0, 1)
        assert m[f"{model}.test.hit_max_new_tokens"] == 0
    for model in closed_and_rag:
        assert m[f"{model}.test_absent.abstained"] == 1 and m[f"{model}.natural.correct"] == 1
    for score in ("exact_match", "f1", "correct"):
        assert m[f"delta.test.{score}"] == 0  # the same answers from both models
    # the assistant is fine-tuned + retrieval behind the gate: a refusal turns a correct answer into an abstention
    for split in GRID_SPLITS:
        refused = m[f"assistant.{split}.refused"]
        answered = m[f"finetuned_rag.{split}.correct"]
        assert m[f"assistant.{split}.correct"] == pytest.approx(answered * (1 - refused), abs=1e-6)
    assert m["assistant.test_absent.abstained"] == 1

    with open(out / "answers.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        assert r["finetuned_answer"] == script[r["question"]]
        expected = {"test": "correct", "test_unseen": "wrong", "test_absent": "abstained", "natural": "correct"}
        assert r["finetuned_outcome"] == expected[r["split"]]
    report = (out / "report.md").read_text(encoding="utf-8")
    # the worst-answers table lists the wrong answers and leaves out a split with none
    assert "## Fine-tuned + retrieval on test_unseen: the 2 worst answers" in report
    assert "## Fine-tuned + retrieval on test:" not in report
    assert report.count("| I know nothing. | wrong |") == 2


def test_select_mode_answers_with_a_source_sentence_or_the_abstention(workspace, tmp_path, monkeypatch):
    """retrieval.answer_mode select: the retrieval cells never generate; each of their answers is a
    sentence of the index (here one fact per passage) or the abstention. Closed-book still generates."""
    import docent.evaluation.runner as runner

    generate = runner.generate_answers
    generated: list[int] = []

    def counting(model, tokenizer, prompts, **kwargs):
        assert not any("Sources:" in p for p in prompts), "a retrieval prompt was generated from"
        generated.append(len(prompts))
        return generate(model, tokenizer, prompts, **kwargs)

    monkeypatch.setattr(runner, "generate_answers", counting)
    raw = yaml.safe_load(workspace["params"].read_text(encoding="utf-8"))
    raw["retrieval"]["answer_mode"] = "select"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = tmp_path / "metrics"
    result = _run(workspace, out, params=params)
    assert result.exit_code == 0, result.output
    assert generated and sum(generated) > 0  # base, base_fewshot and finetuned closed-book
    sentences = {a for _, a, _ in TRAIN + TEST + UNSEEN} | {ABSTAIN}
    with open(out / "answers.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for r in rows:
        for model in ("base_rag", "finetuned_rag"):
            assert r[f"{model}_answer"] in sentences, (model, r[f"{model}_answer"])
    m = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert {f"finetuned_rag.{s}.correct" for s in GRID_SPLITS} <= set(m)
