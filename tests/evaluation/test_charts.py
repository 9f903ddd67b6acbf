"""docent.evaluation.charts: the images beside report.md, drawn from plain data, deterministic, "no data" when empty."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from docent.evaluation import charts

REPO = Path(__file__).resolve().parents[2]
LIVE = REPO / "metrics" / "train"  # the committed dvclive folder of the default run
EVAL = json.loads((REPO / "metrics" / "eval.json").read_text(encoding="utf-8"))
# the committed run without its fact grid: what a run from before the grid (or a closed-book run) has
OVERLAP_ONLY = {k: v for k, v in EVAL.items() if not k.endswith((".correct", ".wrong", ".abstained", ".refused"))}
PNG = b"\x89PNG\r\n\x1a\n"


def _tsv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text())]


def _grid_metrics() -> dict[str, float]:
    """What the fact-accuracy rewrite of evaluate writes: counts per model and split, plus other keys."""
    counts = {"base": (5, 40, 5), "base_rag": (20, 25, 5), "finetuned": (30, 15, 5), "finetuned_rag": (38, 8, 4)}
    m: dict[str, float] = {"delta.test.correct": 25.0, "classifier.test.recall": 0.9}  # not models
    for model, (right, wrong, abstained) in counts.items():
        for split in ("test", "test_unseen"):
            m[f"{model}.{split}.correct"] = right
            m[f"{model}.{split}.wrong"] = wrong
            m[f"{model}.{split}.abstained"] = abstained
            m[f"{model}.{split}.f1"] = 0.5
    return m


# ---------------------------------------------------------------- data

def test_read_curve_reads_dvclive_tsv_and_skips_bad_rows(tmp_path):
    path = _tsv(tmp_path / "loss.tsv", "step\tloss", ["1\t2.5", "2\tnan", "3\tnot-a-number", "4\t1.25"])
    assert charts.read_curve(path) == [(1.0, 2.5), (4.0, 1.25)]
    assert charts.read_curve(tmp_path / "missing.tsv") == []
    assert charts.read_curve(_tsv(tmp_path / "empty.tsv", "step\tloss", [])) == []
    assert charts.read_curve(_tsv(tmp_path / "odd.tsv", "epoch\tvalue", ["1\t2"])) == []


def committed_steps() -> tuple[int, list[int]]:
    """The committed default run's step count (dvclive's summary) and the steps it evaluated at:
    before training, every train.eval_steps, and at the end."""
    steps = json.loads((LIVE / "metrics.json").read_text(encoding="utf-8"))["step"]
    every = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["train"]["eval_steps"]
    return steps, [*range(0, steps, every), steps]


def test_read_loss_curves_of_the_committed_run():
    curves = charts.read_loss_curves(LIVE)
    train, evaluation = curves["train loss"], curves["eval loss (val)"]
    steps, eval_steps = committed_steps()
    assert len(train) == steps and train[0][0] == 1 and train[-1][0] == steps
    assert [step for step, _ in evaluation] == eval_steps
    final = json.loads((LIVE / "metrics.json").read_text(encoding="utf-8"))
    assert evaluation[-1][1] == pytest.approx(final["eval"]["loss"])


def test_accuracy_grid_from_correct_wrong_abstained_keys():
    grid = charts.accuracy_grid(_grid_metrics())
    assert list(grid) == ["base", "base_rag", "finetuned", "finetuned_rag"]  # usual order, no delta/classifier
    assert list(grid["finetuned_rag"]) == ["test", "test_unseen"]
    assert grid["finetuned"]["test"] == {"correct": 30.0, "wrong": 15.0, "abstained": 5.0}
    # a model without abstentions counts 0 there
    assert charts.accuracy_grid({"m.test.correct": 3, "m.test.wrong": 1})["m"]["test"]["abstained"] == 0.0
    assert charts.accuracy_grid(OVERLAP_ONLY) == {}
    committed = charts.accuracy_grid(EVAL)
    natural = committed["finetuned_rag"]["natural"]
    assert natural["correct"] == pytest.approx(EVAL["finetuned_rag.natural.correct"])  # shares, as stored


def test_score_grid_is_bleu_and_f1_per_model_and_split():
    grid = charts.score_grid(EVAL)
    # the committed run has no few-shot row (eval.few_shot_k 0); given one, it sits after base
    assert list(grid) == ["base", "base_rag", "finetuned", "finetuned_rag", "assistant"]
    with_few_shot = charts.score_grid({**EVAL, "base_fewshot.test.sentence_bleu": 0.1, "base_fewshot.test.f1": 0.2})
    assert list(with_few_shot) == ["base", "base_fewshot", "base_rag", "finetuned", "finetuned_rag", "assistant"]
    assert grid["finetuned"]["test"] == {"sentence_bleu": EVAL["finetuned.test.sentence_bleu"],
                                         "f1": EVAL["finetuned.test.f1"]}
    assert "delta" not in grid and "classifier" not in grid


def test_params_hash_is_stable_and_sensitive():
    a = charts.params_hash({"seed": 1, "lora": {"r": 16, "alpha": 32}}, {"eval": {"k": 3}})
    assert a == charts.params_hash({"eval": {"k": 3}}, {"lora": {"alpha": 32, "r": 16}, "seed": 1})
    assert a != charts.params_hash({"seed": 1, "lora": {"r": 64, "alpha": 32}}, {"eval": {"k": 3}})
    assert len(a) == 12 and int(a, 16) >= 0


def test_cli_hash_equals_the_stage_hash_for_a_run_of_that_params_file():
    """The stage hashes finetune's manifest params + its own; the CLI hashes params.yaml's run sections."""
    from docent.config import load_params

    params_file = REPO / "params.yaml"
    trained = load_params(params_file, "seed", "model", "quant", "lora", "freeze", "train").to_dict()
    # what docent.training.run writes into models/finetuned/docent.json (quant dropped unless qlora)
    manifest = json.loads(json.dumps({k: v for k, v in trained.items() if k != "quant"}))
    evaluated = load_params(params_file, "seed", "model", "quant", "eval").to_dict()
    everything = load_params(params_file, *charts.RUN_SECTIONS).to_dict()
    assert charts.params_hash(manifest, evaluated) == charts.params_hash(everything)


# ---------------------------------------------------------------- figures

def test_loss_figure_draws_both_curves_with_labelled_axes():
    fig = charts.loss_figure(charts.read_loss_curves(LIVE), "metrics/train", "0123456789ab")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step" and "loss" in ax.get_ylabel()
    train, evaluation = ax.get_lines()
    steps, eval_steps = committed_steps()
    assert len(train.get_xdata()) == steps and list(evaluation.get_xdata()) == eval_steps
    assert any("params 0123456789ab" in t for t in _texts(fig))
    assert not any(t.startswith("no data") for t in _texts(fig))


def test_accuracy_figure_stacks_right_wrong_abstained():
    fig, what, _ = charts.accuracy_figure(_grid_metrics(), "0123456789ab")
    assert what.startswith("fact accuracy")
    test_ax = fig.axes[0]
    widths = [round(p.get_width(), 6) for p in test_ax.patches]
    assert widths[:3] == [5, 40, 5] and widths[-3:] == [38, 8, 4]  # base first, fine-tuned + RAG last
    assert [t.get_text() for t in test_ax.get_yticklabels()] == ["base", "base + RAG", "fine-tuned",
                                                                 "fine-tuned + RAG"]
    assert test_ax.get_xlabel() == "questions" and fig.axes[0].get_ylabel() == "model"
    assert any("params 0123456789ab" in t for t in _texts(fig))


def test_accuracy_figure_falls_back_to_bleu_and_f1():
    fig, what, source = charts.accuracy_figure(OVERLAP_ONLY, "0123456789ab")
    assert what.startswith("sentence BLEU and token F1") and "sentence_bleu" in source
    test_ax = fig.axes[0]
    widths = sorted(round(p.get_width(), 6) for p in test_ax.patches)
    expected = sorted(EVAL[f"{m}.test.{k}"] for m in charts.score_grid(OVERLAP_ONLY)
                      for k in ("sentence_bleu", "f1"))
    assert widths == expected
    assert test_ax.get_xlabel() == "score (0-1)"


def test_no_dvclive_files_and_no_scores_are_drawn_as_no_data(tmp_path):
    """A trial whose finetune logged no step: the images say "no data", nothing crashes."""
    empty_live = tmp_path / "train"
    empty_live.mkdir()
    (empty_live / "metrics.json").write_text("{}", encoding="utf-8")
    fig = charts.loss_figure(charts.read_loss_curves(empty_live), empty_live, "0123456789ab")
    assert any(t.startswith("no data") for t in _texts(fig))
    assert {t for t in _texts(fig) if t.endswith("no data")} == {"train loss: no data", "eval loss (val): no data"}
    fig, what, _ = charts.accuracy_figure({"eval_total_s": 3.0}, "0123456789ab")
    assert what.endswith("no data") and any(t.startswith("no data") for t in _texts(fig))

    written = charts.write_charts(tmp_path / "charts", tmp_path / "never-written", {}, "0123456789ab")
    assert [c.path.name for c in written] == ["loss.png", "accuracy.png"]
    assert all(c.path.read_bytes().startswith(PNG) for c in written)
    assert written[0].alt == "loss per step: no data"


def test_only_an_eval_point_still_draws_it(tmp_path):
    _tsv(tmp_path / "plots/metrics/eval/loss.tsv", "step\tloss", ["0\t1.8"])
    fig = charts.loss_figure(charts.read_loss_curves(tmp_path), tmp_path, "x")
    lines = fig.axes[0].get_lines()
    assert len(lines[0].get_xdata()) == 0 and list(lines[1].get_xdata()) == [0]
    assert not any(t.startswith("no data\n") for t in _texts(fig))


# ---------------------------------------------------------------- files

def test_write_charts_is_deterministic_and_replaces_the_folder(tmp_path):
    out = tmp_path / "charts"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")
    first = charts.write_charts(out, LIVE, EVAL, "0123456789ab")
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "loss.png"]  # stale file gone
    assert [c.path for c in first] == [out / "loss.png", out / "accuracy.png"]
    again = charts.write_charts(tmp_path / "again", LIVE, EVAL, "0123456789ab")
    for a, b in zip(first, again, strict=True):
        data = a.path.read_bytes()
        assert data.startswith(PNG) and data == b.path.read_bytes()  # same data, same bytes
        assert b"Software" not in data and b"matplotlib" not in data.lower()  # no version stamp
    other = charts.write_charts(tmp_path / "other", LIVE, EVAL, "ba9876543210")
    assert other[0].path.read_bytes() != first[0].path.read_bytes()  # the hash is drawn in the image


def test_the_users_matplotlib_settings_do_not_change_the_bytes(tmp_path):
    import matplotlib

    plain = charts.write_charts(tmp_path / "plain", LIVE, EVAL, "0123456789ab")
    with matplotlib.rc_context({"font.size": 20, "lines.linewidth": 5, "axes.facecolor": "yellow"}):
        styled = charts.write_charts(tmp_path / "styled", LIVE, EVAL, "0123456789ab")
    for a, b in zip(plain, styled, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name


def test_markdown_links_are_relative_to_the_report(tmp_path):
    written = charts.write_charts(tmp_path / "metrics" / "charts", LIVE, OVERLAP_ONLY, "0123456789ab")
    lines = charts.markdown(written, tmp_path / "metrics" / "report.md")
    assert lines[0] == "## Charts"
    assert "![train and eval loss per step](charts/loss.png)" in lines
    assert "![sentence BLEU and token F1 per model and split](charts/accuracy.png)" in lines
    assert sum("params `0123456789ab`" in line for line in lines) == 2


def test_cli_renders_the_committed_run(tmp_path):
    live = shutil.copytree(LIVE, tmp_path / "train")
    result = CliRunner().invoke(charts._cli(), ["--params", str(REPO / "params.yaml"), "--live-dir", str(live),
                                                "--eval-metrics", str(REPO / "metrics" / "eval.json"),
                                                "--out", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "charts" / "loss.png").read_bytes().startswith(PNG)
    assert result.output.count("params `") == 2
