"""Fixtures for the text tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _detach_stage_logging() -> Iterator[None]:
    """stage_main attaches a stderr handler once per process; CliRunner swaps stderr per call."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_docent", False)]:
        root.removeHandler(handler)
