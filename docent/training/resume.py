"""Resume an interrupted run, or start fresh: the fingerprint and the checkpoint to continue from.

models/checkpoints/docent_run.json holds a fingerprint of everything that shapes the run (the
params sections it reads, the input files' hashes, the base model, the library versions). A
re-run whose fingerprint matches an unfinished run continues from its last complete checkpoint
(step count, optimizer, scheduler, RNG and early-stopping state are restored by the Trainer);
anything else clears the folder and starts fresh, saying why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from docent.io import write_json
from docent.runtime import package_versions

log = logging.getLogger(__name__)

RUN_STATE = "docent_run.json"


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_fingerprint(params_dict: dict[str, Any], inputs: list[Path], model_source: str) -> str:
    payload = {
        "params": params_dict,
        "inputs": {str(p.name): file_digest(p) for p in inputs},
        "model_source": model_source,
        "versions": package_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def agree_on_resume(processes: Any, checkpoints: Path, fingerprint: str) -> str | None:
    """The checkpoint every process resumes from (None: fresh). The main process decides (and
    clears stale checkpoints); the others follow its decision."""
    from accelerate.utils import broadcast_object_list

    decision: list[str | None] = [None]
    if processes.is_main_process:
        decision[0] = checkpoint_to_resume(checkpoints, fingerprint)
        write_json(checkpoints / RUN_STATE, {"fingerprint": fingerprint, "status": "running"})
    if processes.num_processes > 1:
        broadcast_object_list(decision)
    return decision[0]


def mark_run_done(checkpoints: Path, fingerprint: str) -> None:
    write_json(checkpoints / RUN_STATE, {"fingerprint": fingerprint, "status": "done"})


def checkpoint_to_resume(checkpoints: Path, fingerprint: str) -> str | None:
    """The last checkpoint of an unfinished run with the same fingerprint; else clear the folder."""
    state_file = checkpoints / RUN_STATE
    last = last_complete_checkpoint(checkpoints)
    if last is None:
        _clear(checkpoints)
        return None
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        state = {}
    if state.get("fingerprint") != fingerprint:
        log.warning("%s: checkpoints were made with different params, data or library versions; "
                    "starting fresh", checkpoints)
    elif state.get("status") == "done":
        log.info("%s: the last run with these params finished; training again from the start", checkpoints)
    else:
        log.info("resuming the interrupted run from %s", last)
        return last
    _clear(checkpoints)
    return None


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint-N that was saved completely.

    The Trainer writes a checkpoint's files one by one and trainer_state.json last, so a process
    killed (SIGKILL, power loss) in the middle of a save leaves a folder without a readable
    trainer_state.json. Such folders are removed and the one before is used.
    """
    if not checkpoints.is_dir():
        return None
    candidates = sorted((p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
                        key=lambda p: int(p.name[11:]), reverse=True)
    for folder in candidates:
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s: incomplete checkpoint (interrupted while saving); removed", folder)
            shutil.rmtree(folder, ignore_errors=True)
            continue
        return str(folder)
    return None


def step_of(checkpoint: str) -> int:
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def _clear(checkpoints: Path) -> None:
    if checkpoints.is_dir():
        for child in checkpoints.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    checkpoints.mkdir(parents=True, exist_ok=True)
