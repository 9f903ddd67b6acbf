"""Trainer callbacks: dvclive logging, a clean stop on Ctrl-C, optimisation-step timing."""

from __future__ import annotations

import csv
import json
import logging
import signal
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from docent.io import write_json

log = logging.getLogger(__name__)

# Trainer log key -> dvclive metric name (dvc.yaml's plots read train/loss, eval/loss, train/learning_rate)
METRIC_NAMES = {
    "loss": "train/loss",
    "learning_rate": "train/learning_rate",
    "grad_norm": "train/grad_norm",
    "eval_loss": "eval/loss",
    "eval_bleu": "eval/bleu",
}


class TrainingInterrupted(Exception):
    """Ctrl-C: training stopped after saving a checkpoint at `step`."""

    def __init__(self, step: int, checkpoint_dir: str) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step = step
        self.checkpoint_dir = checkpoint_dir


def truncate_live_history(live_dir: str | Path, last_step: int) -> None:
    """Drop rows logged after `last_step` (a killed run logged steps its last checkpoint lacks).

    Resuming from checkpoint N replays steps N+1...; without this the plots would show them twice.
    dvclive's summary (`metrics.json`, which it reads back on resume) is rewritten in place at every
    step, so a kill can leave it cut off mid-write: then resuming failed on its JSON. It is set back
    to the checkpoint's step (the Trainer logs every value again from there).
    """
    summary_path = Path(live_dir) / "metrics.json"
    if summary_path.exists():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("%s: cut off by the killed run; resuming with step %d", summary_path, last_step)
            summary = {}
        if summary.get("step") != last_step:
            write_json(summary_path, {**summary, "step": last_step})
    metrics_dir = Path(live_dir) / "plots" / "metrics"
    for tsv in sorted(metrics_dir.rglob("*.tsv")):
        with open(tsv, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
        if not rows:
            continue
        header, body = rows[0], rows[1:]
        col = header.index("step") if "step" in header else None
        if col is None:
            continue
        keep = [r for r in body if r and int(float(r[col])) <= last_step]
        if len(keep) != len(body):
            with open(tsv, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
                writer.writerow(header)
                writer.writerows(keep)


# Not DVCLiveCallback: same logs -> eval/loss at log-call steps 2,5 (ours 0,2,4), train loss in loss.tsv, 14 files not 6
class DvcLiveLogger(TrainerCallback):
    """Every Trainer log line -> dvclive metrics at step = the optimizer step.

    `log_base_eval`: the pre-training evaluation (logged by the Trainer as base_eval_loss) becomes
    eval/loss at step 0, the curve's starting point; skipped when resuming (already in the history).
    """

    def __init__(self, live: Any, log_base_eval: bool) -> None:
        self.live = live
        self.log_base_eval = log_base_eval

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs:
            return
        logged = False
        self.live.step = state.global_step
        for key, value in logs.items():
            name = METRIC_NAMES.get(key)
            if key.startswith("base_eval_") and self.log_base_eval:
                name = METRIC_NAMES.get(key.replace("base_eval_", "eval_", 1))
            if name is not None and isinstance(value, int | float):
                self.live.log_metric(name, float(value))
                logged = True
        if logged:
            self.live.make_summary()

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self.live.make_summary()


class GracefulInterrupt(TrainerCallback):
    """First Ctrl-C: finish the current step, save a checkpoint, stop. Second Ctrl-C: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Ctrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to stop at once)")

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread (e.g. inside a server): leave SIGINT alone
            self._previous = None

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
