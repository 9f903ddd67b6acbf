"""What every stage and command shares at the edge: user errors, logging, the params banner.

A user mistake (bad params, a bad input file) is a `UserError`: click prints it as one
line and exits with code 2, no traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

log = logging.getLogger("docent")

F = TypeVar("F", bound=Callable[..., Any])


# Options that several stages take, declared once (every other path option is the stage's own).
params_option = click.option("--params", "params_path", required=True, type=click.Path(dir_okay=False),
                             help="params.yaml")
_results_option = click.option("--metrics", required=True, type=click.Path(dir_okay=False),
                               help="flat JSON of the stage's results to write")
_machine_option = click.option("--machine-metrics", required=True, type=click.Path(dir_okay=False),
                               help="flat JSON of its machine figures (seconds, rates, memory) to write")


def metrics_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--metrics (results) and --machine-metrics (time, speed, memory): see docent.io.write_metrics."""
    return _results_option(_machine_option(command))


model_cache_option = click.option("--model-cache", required=True, type=click.Path(file_okay=False),
                                  help="where base models are converted once (the embedded GGUF -> safetensors)")


class UserError(click.ClickException):
    """A mistake the user can fix: printed as one line, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def setup_logging(level: int = logging.INFO) -> None:
    """Plain timestamped lines on stderr; libraries stay at WARNING."""
    root = logging.getLogger()
    if not any(getattr(h, "_docent", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._docent = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(level)


def log_params(stage: str, params: dict[str, Any]) -> None:
    """Log the resolved params a stage runs with (one JSON line, easy to grep in DVC logs)."""
    log.info("%s params: %s", stage, json.dumps(params, sort_keys=True, ensure_ascii=False, default=str))


def stage_main(func: F) -> F:
    """Wrap a stage's click callback: logging set up, user-facing OS errors turned into UserError.

    OSError covers a missing input, a permission problem or a full disk while writing outputs;
    each names its file. KeyboardInterrupt is left to the stage (finetune explains resume).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setup_logging()
        try:
            return func(*args, **kwargs)
        except UserError:
            raise
        except FileNotFoundError as exc:
            raise UserError(f"{exc.filename}: file not found") from None
        except IsADirectoryError as exc:
            raise UserError(f"{exc.filename}: is a directory, expected a file") from None
        except PermissionError as exc:
            raise UserError(f"{exc.filename}: permission denied") from None
        except OSError as exc:
            if exc.errno == 28:  # ENOSPC
                where = exc.filename or "output"
                raise UserError(f"{where}: disk full while writing outputs; free space and re-run") from None
            raise

    return wrapper  # type: ignore[return-value]
