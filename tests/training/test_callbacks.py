"""DvcLiveLogger: optimizer steps, the base eval at step 0, dvc.yaml's metric names; resume truncation.

Fed the same sequence, transformers' DVCLiveCallback counts log calls as steps (eval/loss at 2, 5),
logs the base eval as base_eval/loss and the training loss as loss.tsv, and writes 14 files with a
120-line params.yaml: why docent keeps its own logger (the comment above DvcLiveLogger).
"""

from __future__ import annotations

from pathlib import Path

from dvclive import Live
from transformers import TrainerControl, TrainerState, TrainingArguments

from docent.training.callbacks import DvcLiveLogger, truncate_live_history

LOGS = [(0, {"base_eval_loss": 3.0, "base_eval_runtime": 1.0})]
for _step in (2, 4):
    LOGS += [(_step, {"loss": 2.0 + _step, "learning_rate": 1e-3, "grad_norm": 1.0, "epoch": _step / 4}),
             (_step, {"eval_loss": 1.0 + _step, "eval_runtime": 0.5}), (_step, {"eval_bleu": _step / 10})]
LOGS.append((4, {"train_runtime": 9.0, "train_loss": 2.3}))


def _log(live_dir: Path, log_base_eval: bool, logs=LOGS) -> None:
    live = Live(dir=str(live_dir), resume=not log_base_eval, dvcyaml=False, save_dvc_exp=False)
    logger = DvcLiveLogger(live, log_base_eval=log_base_eval)
    args = TrainingArguments(output_dir=str(live_dir / "out"), report_to="none", use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    for step, entry in logs:
        state.global_step = step
        logger.on_log(args, state, control, logs=dict(entry))
    logger.on_train_end(args, state, control)
    live.end()


def _rows(live_dir: Path, name: str) -> list[str]:
    return (live_dir / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()[1:]


def test_logs_at_optimizer_steps_under_dvc_yaml_names(tmp_path: Path) -> None:
    live_dir = tmp_path / "live"
    _log(live_dir, log_base_eval=True)
    assert _rows(live_dir, "eval/loss") == ["0\t3.0", "2\t3.0", "4\t5.0"]  # the base eval starts the curve
    assert _rows(live_dir, "train/loss") == ["2\t4.0", "4\t6.0"]
    assert _rows(live_dir, "eval/bleu") == ["2\t0.2", "4\t0.4"]
    files = sorted(str(p.relative_to(live_dir)) for p in live_dir.rglob("*.tsv"))
    assert files == [f"plots/metrics/{n}.tsv" for n in ("eval/bleu", "eval/loss", "train/grad_norm",
                                                         "train/learning_rate", "train/loss")]
    assert not (live_dir / "params.yaml").exists()


def test_resume_truncates_replayed_steps_and_skips_the_base_eval(tmp_path: Path) -> None:
    live_dir = tmp_path / "live"
    _log(live_dir, log_base_eval=True)
    truncate_live_history(live_dir, 2)  # the last checkpoint was step 2: steps 3-4 are replayed
    _log(live_dir, log_base_eval=False, logs=[(0, {"base_eval_loss": 9.9}), *LOGS[4:]])
    assert _rows(live_dir, "eval/loss") == ["0\t3.0", "2\t3.0", "4\t5.0"]
    assert _rows(live_dir, "train/loss") == ["2\t4.0", "4\t6.0"]


def test_resume_survives_a_summary_cut_off_by_the_kill(tmp_path: Path) -> None:
    """A SIGKILL while dvclive rewrote metrics.json left it empty, and resuming failed on its JSON."""
    import json

    from dvclive import Live

    live_dir = tmp_path / "live"
    _log(live_dir, log_base_eval=True)
    (live_dir / "metrics.json").write_text('{"step": 4, "train": {"lo', encoding="utf-8")
    truncate_live_history(live_dir, 2)
    assert json.loads((live_dir / "metrics.json").read_text(encoding="utf-8")) == {"step": 2}
    live = Live(dir=str(live_dir), resume=True, dvcyaml=False, save_dvc_exp=False)
    assert live.step == 3  # dvclive resumes after the checkpoint's step
    # a readable summary keeps its values, its step set back to the checkpoint's
    (live_dir / "metrics.json").write_text('{"step": 4, "train": {"loss": 6.0}}', encoding="utf-8")
    truncate_live_history(live_dir, 2)
    assert json.loads((live_dir / "metrics.json").read_text(encoding="utf-8")) == {"step": 2, "train": {"loss": 6.0}}
