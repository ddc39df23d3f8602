"""Fixtures shared by several test modules.

The real MNIST and IMDB files are found in one place, :func:`real_data_dir`:
``$GRU_LIB_DATA_DIR`` when set (``.ci/run`` and the book build set it), otherwise
``../shared/data`` beside the checkout. Tests that need the files take
:func:`real_mnist_dir` or :func:`real_imdb_dir`, which skip with the reason when
the files are absent.

Playwright's synchronous API runs an event loop for as long as its context is open,
and a second ``sync_playwright()`` opened while the first is still alive fails with
"using Playwright Sync API inside the asyncio loop". Every test that needs a browser
therefore shares the one session-scoped :func:`chromium` below.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Read when the suite starts, before any test's monkeypatch can change the environment.
REAL_DATA_DIR = Path(os.environ.get("GRU_LIB_DATA_DIR") or REPO.parent / "shared" / "data")

CHROMIUM = Path(os.environ.get("GRU_BOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian Chromium driven by playwright; skipped with the reason when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("pip install playwright (the browser itself comes from: apt-get install chromium)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of the real data files (it may lack some of them)."""
    return REAL_DATA_DIR


@pytest.fixture(scope="session")
def real_mnist_dir(real_data_dir) -> Path:
    """The real data folder, when it holds the MNIST files; the test is skipped otherwise."""
    if not (real_data_dir / "mnist").is_dir():
        pytest.skip(f"the real MNIST files are not in {real_data_dir / 'mnist'}")
    return real_data_dir


@pytest.fixture(scope="session")
def real_imdb_dir(real_data_dir) -> Path:
    """The real data folder, when it holds an IMDB archive; the test is skipped otherwise."""
    from gru_lib.data import imdb

    if not any((real_data_dir / archive.name).is_file() for archive in (imdb.LABELED, imdb.CANONICAL)):
        pytest.skip(f"no IMDB archive in {real_data_dir}")
    return real_data_dir
