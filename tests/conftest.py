"""Shared test setup: offline environment, the optional ../shared/data samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test reaches a model hub or the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# A real llama.cpp server on loopback for the LLM code paths (tests/llm_server.py).
pytest_plugins = ["llm_server"]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = Path(os.environ.get("MEMDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def shared_data() -> Path:
    """The real third-party samples; tests using them skip on a fresh clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real samples live outside the repository)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's real store."""
    monkeypatch.setenv("MEMDISTILL_HOME", str(tmp_path / "memdistill-home"))
