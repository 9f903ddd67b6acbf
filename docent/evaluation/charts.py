"""The run's headline charts as PNG images beside report.md: loss per step, and answers per model and split.

Pure functions of plain data: the dvclive folder finetune wrote (`metrics/train`), the flat metrics
dict of `metrics/eval.json`, an output path. Both images are always written; what is missing is
drawn as "no data" (a trial whose finetune logged no step has no loss curve, not a crash).

- `loss.png`: train loss per step and eval loss per eval step (dvclive's
  `plots/metrics/train/loss.tsv` and `plots/metrics/eval/loss.tsv`).
- `accuracy.png`: the fact-accuracy grid, right / wrong / abstained per model and split, from the
  keys `<model>.<split>.correct`, `.wrong`, `.abstained`; where eval.json has no such keys, mean
  sentence BLEU and token F1 per model and split (`<model>.<split>.sentence_bleu`, `.f1`).

Every image carries the run's params hash (`params_hash`) in its footer, as the report's caption does.

Deterministic: matplotlib's Agg renderer, the DejaVu Sans font that ships inside matplotlib (not a
system font), no timestamp or version text in the PNG (`metadata={"Software": None}`), so the same
data gives the same bytes with the pinned matplotlib / Pillow (checked by the tests).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docent.io import atomic_dir

log = logging.getLogger(__name__)

LOSS_FILE = "loss.png"
ACCURACY_FILE = "accuracy.png"
# dvclive's layout under the live folder: plots/metrics/<logged name>.tsv
LOSS_CURVES = (("train loss", "plots/metrics/train/loss.tsv"), ("eval loss (val)", "plots/metrics/eval/loss.tsv"))
OUTCOMES = (("correct", "right", "#2e7d32"), ("wrong", "wrong", "#c62828"), ("abstained", "abstained", "#9e9e9e"))
SCORES = (("sentence_bleu", "sentence BLEU", "#1565c0"), ("f1", "token F1", "#ef6c00"))
MODEL_ORDER = ("base", "base_fewshot", "base_rag", "finetuned", "finetuned_rag")
MODEL_LABELS = {"base": "base", "base_fewshot": "base few-shot", "base_rag": "base + RAG",
                "finetuned": "fine-tuned", "finetuned_rag": "fine-tuned + RAG"}
SPLIT_ORDER = ("test", "test_unseen")
SPLIT_LABELS = {"test": "test (taught facts, other phrasings)", "test_unseen": "test_unseen (facts never taught)"}
# Not models: keys like delta.test.f1 or classifier.test.recall share the <a>.<b>.<c> shape.
NOT_MODELS = frozenset({"delta", "classifier", "n_questions", "n_questions_available"})
FIGSIZE = (8.0, 4.5)
DPI = 100
STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10}


@dataclass(frozen=True)
class Chart:
    """One written image: where it is, its alt text and the caption under it in report.md."""

    path: Path
    alt: str
    caption: str


# ---------------------------------------------------------------- data

def params_hash(*sections: Mapping[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of the params (merged left to right) as sorted-key JSON."""
    merged: dict[str, Any] = {}
    for section in sections:
        merged.update(section)
    blob = json.dumps(merged, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def read_curve(path: str | Path) -> list[tuple[float, float]]:
    """(step, value) rows of one dvclive TSV (`step<TAB><name>`); [] if the file is missing or empty.

    A row whose step or value is not a finite number is skipped with a warning.
    """
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        columns = [c for c in reader.fieldnames or () if c not in ("step", "timestamp")]
        if "step" not in (reader.fieldnames or ()) or not columns:
            log.warning("%s: no step and value columns; drawn as no data", path)
            return []
        name = path.stem if path.stem in columns else columns[0]
        points = []
        for row in reader:
            try:
                step, value = float(row["step"]), float(row[name])
            except (TypeError, ValueError):
                step = value = math.nan
            if math.isfinite(step) and math.isfinite(value):
                points.append((step, value))
            else:
                log.warning("%s:%d: not a number, skipped", path, reader.line_num)
    return points


def read_loss_curves(live_dir: str | Path) -> dict[str, list[tuple[float, float]]]:
    """{"train loss": [(step, loss), ...], "eval loss (val)": [...]} from a dvclive folder."""
    return {label: read_curve(Path(live_dir) / rel) for label, rel in LOSS_CURVES}


def _ordered(names: set[str], order: Sequence[str]) -> list[str]:
    return [n for n in order if n in names] + sorted(names - set(order))


def model_split_values(metrics: Mapping[str, Any], fields: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {split: {field: value}}} for every `<model>.<split>.<field>` number in a flat metrics dict.

    Models and splits in the usual order (base before fine-tuned, test before test_unseen), others after.
    """
    found: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in metrics.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[2] not in fields or parts[0] in NOT_MODELS:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        found.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = float(value)
    splits = _ordered({s for per_model in found.values() for s in per_model}, SPLIT_ORDER)
    return {m: {s: found[m][s] for s in splits if s in found[m]} for m in _ordered(set(found), MODEL_ORDER)}


def accuracy_grid(metrics: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Right / wrong / abstained per model and split (missing outcomes count 0); {} without such keys."""
    grid = model_split_values(metrics, [key for key, _, _ in OUTCOMES])
    return {m: {s: {key: v.get(key, 0.0) for key, _, _ in OUTCOMES} for s, v in per.items()} for m, per in grid.items()}


def score_grid(metrics: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Sentence BLEU and F1 (both 0-1) per model and split: the chart when there is no accuracy grid."""
    return model_split_values(metrics, [key for key, _, _ in SCORES])


# ---------------------------------------------------------------- drawing

def _figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global; PNG goes through Agg

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _footer(fig: Any, params_id: str, source: str) -> None:
    fig.supxlabel(f"params {params_id} · {source}", fontsize=7, color="#555555", x=0.0, ha="left")


def _no_data(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, f"no data\n{message}", ha="center", va="center", transform=ax.transAxes,
            fontsize=10, color="#555555", wrap=True)


def _styled(func: Any) -> Any:
    """Draw with matplotlib's default style plus STYLE, whatever the user's matplotlibrc says."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib.style

        with matplotlib.style.context(["default", STYLE]):
            return func(*args, **kwargs)
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@_styled  # drawing happens here too (tick positions, text sizes are settled when the figure is drawn)
def _save(fig: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")


@_styled
def loss_figure(curves: Mapping[str, Sequence[tuple[float, float]]], live_dir: str | Path, params_id: str) -> Any:
    """Figure of the loss curves ({label: [(step, loss)]}, as read_loss_curves gives them)."""
    fig, axes = _figure()
    ax = axes[0][0]
    ax.set_title("Train and eval loss per step")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (cross-entropy on answer tokens)")
    styles = ({"lw": 1.0, "color": "#1565c0"}, {"lw": 1.8, "color": "#ef6c00", "marker": "o", "ms": 4})
    drawn = 0
    for (label, points), style in zip(curves.items(), styles, strict=False):
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=f"{label} ({len(points)} points)", **style)
            drawn += 1
        else:
            ax.plot([], [], label=f"{label}: no data", **style)
    ax.legend(loc="upper right")
    if drawn:
        ax.grid(True, color="#dddddd", lw=0.6)
    else:
        _no_data(ax, f"{live_dir} holds no loss curve (a run with no training step?)")
        ax.set_xticks([])
        ax.set_yticks([])
    _footer(fig, params_id, f"dvclive: {live_dir}")
    return fig


def loss_chart(live_dir: str | Path, out: str | Path, params_id: str) -> Chart:
    """Train and eval loss per step from the dvclive folder -> PNG at `out`."""
    curves = read_loss_curves(live_dir)
    _save(loss_figure(curves, live_dir, params_id), Path(out))
    alt = "train and eval loss per step" if any(curves.values()) else "loss per step: no data"
    return Chart(Path(out), alt, f"Train and eval loss per step (dvclive, `{live_dir}`); params `{params_id}`.")


def _split_axes(splits: list[str], models: list[str]) -> tuple[Any, Any]:
    fig, axes = _figure(1, max(1, len(splits)), sharey=True)
    for ax, split in zip(axes[0], splits, strict=False):
        ax.set_title(SPLIT_LABELS.get(split, split))
        ax.set_yticks(range(len(models)), [MODEL_LABELS.get(m, m) for m in models])
    axes[0][0].invert_yaxis()  # first model on top (once: the y axis is shared, a second call undoes it)
    axes[0][0].set_ylabel("model")
    return fig, axes[0]


def _draw_accuracy(grid: dict[str, dict[str, dict[str, float]]], splits: list[str]) -> Any:
    models = list(grid)
    totals = [sum(v.values()) for per in grid.values() for v in per.values()]
    shares = all(t <= 1.0 + 1e-6 for t in totals)
    fig, axes = _split_axes(splits, models)
    fig.suptitle("Fact accuracy per model and split")
    for ax, split in zip(axes, splits, strict=True):
        for row, model in enumerate(models):
            cell = grid[model].get(split)
            if cell is None:
                ax.text(0.01, row, "no data", va="center", fontsize=8, color="#555555",
                        transform=ax.get_yaxis_transform())
                continue
            left = 0.0
            for key, _, color in OUTCOMES:
                width = cell[key]
                ax.barh(row, width, left=left, color=color, height=0.6)
                if width > (0.06 if shares else 0.06 * max(totals)):
                    text = f"{width:.0%}" if shares else f"{width:g}"
                    ax.text(left + width / 2, row, text, ha="center", va="center", fontsize=7, color="white")
                left += width
        ax.set_xlabel("share of questions" if shares else "questions")
        if shares:
            ax.set_xlim(0, 1)
    _legend(fig, OUTCOMES)
    return fig


def _legend(fig: Any, entries: Sequence[tuple[str, str, str]]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=color, label=label) for _, label, color in entries]
    fig.legend(handles=handles, loc="outside lower right", ncols=len(handles), fontsize=8)


def _draw_scores(grid: dict[str, dict[str, dict[str, float]]], splits: list[str]) -> Any:
    models = list(grid)
    fig, axes = _split_axes(splits, models)
    fig.suptitle("Sentence BLEU and token F1 per model and split (eval.json has no fact-accuracy grid)")
    height = 0.8 / len(SCORES)
    for ax, split in zip(axes, splits, strict=True):
        for row, model in enumerate(models):
            cell = grid[model].get(split, {})
            for i, (key, label, color) in enumerate(SCORES):
                y = row - 0.4 + height * (i + 0.5)
                if key not in cell:
                    ax.text(0.01, y, f"{label}: no data", va="center", fontsize=7, color="#555555")
                    continue
                ax.barh(y, cell[key], height=height * 0.9, color=color)
                ax.text(cell[key] + 0.01, y, f"{cell[key]:.2f}", va="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_xlabel("score (0-1)")
    _legend(fig, SCORES)
    return fig


@_styled
def accuracy_figure(metrics: Mapping[str, Any], params_id: str) -> tuple[Any, str, str]:
    """(figure, what it shows, which keys it read): the accuracy grid, else BLEU and F1, else "no data"."""
    grid = accuracy_grid(metrics)
    if grid:
        what = "fact accuracy (right / wrong / abstained) per model and split"
        source = "<model>.<split>.correct/wrong/abstained"
        fig = _draw_accuracy(grid, list(dict.fromkeys(s for per in grid.values() for s in per)))
    elif scores := score_grid(metrics):
        what, source = "sentence BLEU and token F1 per model and split", "<model>.<split>.sentence_bleu/f1"
        fig = _draw_scores(scores, list(dict.fromkeys(s for per in scores.values() for s in per)))
    else:
        what, source = "answers per model and split: no data", "no <model>.<split> scores"
        fig, axes = _figure()
        ax = axes[0][0]
        ax.set_title("Answers per model and split")
        ax.set_xlabel("share of questions")
        ax.set_ylabel("model")
        ax.set_xticks([])
        ax.set_yticks([])
        _no_data(ax, "the metrics hold no fact-accuracy grid and no BLEU / F1 per model and split")
    _footer(fig, params_id, f"eval metrics: {source}")
    return fig, what, source


def accuracy_chart(metrics: Mapping[str, Any], out: str | Path, params_id: str) -> Chart:
    """The fact-accuracy grid (right / wrong / abstained) per model and split, else BLEU and F1 -> PNG."""
    fig, what, source = accuracy_figure(metrics, params_id)
    _save(fig, Path(out))
    return Chart(Path(out), what, f"{what[0].upper()}{what[1:]} (`{source}` in eval.json); params `{params_id}`.")


# ---------------------------------------------------------------- the stage's entry point

def write_charts(out_dir: str | Path, live_dir: str | Path, metrics: Mapping[str, Any], params_id: str) -> list[Chart]:
    """Both charts into `out_dir` (replaced as a whole, so no stale image survives); paths point there."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        drawn = [loss_chart(live_dir, tmp / LOSS_FILE, params_id),
                 accuracy_chart(metrics, tmp / ACCURACY_FILE, params_id)]
    return [Chart(out_dir / c.path.name, c.alt, c.caption) for c in drawn]


def markdown(charts: Sequence[Chart], report_path: str | Path) -> list[str]:
    """report.md lines: each image by a path relative to the report, its caption in italics under it."""
    base = Path(report_path).parent
    lines = ["## Charts", ""]
    for chart in charts:
        rel = Path(os.path.relpath(chart.path, base)).as_posix()
        lines += [f"![{chart.alt}]({rel})", "", f"*{chart.caption}*", ""]
    return lines


# ---------------------------------------------------------------- command line

# Params sections of a run: those finetune records in its manifest and those evaluate reads.
RUN_SECTIONS = ("seed", "model", "quant", "lora", "freeze", "train", "eval")


def _cli() -> Any:
    import click

    @click.command()
    @click.option("--params", "params_path", required=True, type=click.Path(dir_okay=False), help="params.yaml")
    @click.option("--live-dir", required=True, type=click.Path(file_okay=False), help="dvclive folder (metrics/train)")
    @click.option("--eval-metrics", required=True, type=click.Path(dir_okay=False), help="metrics/eval.json")
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="folder for the images")
    def main(params_path: str, live_dir: str, eval_metrics: str, out_dir: str) -> None:
        """Draw a run's charts from its committed metrics, without re-running evaluate.

        The params hash is taken over the RUN_SECTIONS of params.yaml: for a run made from that
        file, the same hash the evaluate stage computes from finetune's manifest and its own params.
        """
        from docent.config import load_params

        params = load_params(params_path, *RUN_SECTIONS)
        metrics = json.loads(Path(eval_metrics).read_text(encoding="utf-8"))
        for chart in write_charts(out_dir, live_dir, metrics, params_hash(params.to_dict())):
            click.echo(f"{chart.path}: {chart.caption}")

    return main


if __name__ == "__main__":
    _cli()()
