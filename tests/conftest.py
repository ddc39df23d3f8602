"""Fixtures shared by several test modules.

Playwright's synchronous API runs an event loop for as long as its context is open,
and a second ``sync_playwright()`` opened while the first is still alive fails with
"using Playwright Sync API inside the asyncio loop". Every test that needs a browser
therefore shares the one session-scoped :func:`chromium` below.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
