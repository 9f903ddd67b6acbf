"""Shared fixtures; `tiny_model_dir` is the one saved tiny model of the suite (built by tests/tiny_models.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_models import save_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny chat model folder, usable as `model.name` in params."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(autouse=True)
def _detach_stage_logging() -> Iterator[None]:
    """stage_main attaches a stderr handler once per process; CliRunner swaps stderr per call."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_docent", False)]:
        root.removeHandler(handler)
