"""Fixtures of the command-line tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder for an embedded PostgreSQL, outside pytest's temporary tree.

    Run as root, the embedded PostgreSQL runs as the unprivileged user
    ``pgserver``, which must traverse every folder above its data. pytest takes
    group and other permissions off ``/tmp/pytest-of-<user>`` whenever any pytest
    session starts, so a server being initialised below it by this session fails
    (``Permission denied``) the moment a colleague's session starts.
    """
    folder = Path(tempfile.mkdtemp(prefix="quotatree-test-"))
    try:
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
