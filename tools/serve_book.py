#!/usr/bin/env python3
"""Serve the built book locally, with local copies of the scripts it loads from CDNs.

The published book loads MathJax, require.js and the Jupyter widget manager from
public CDNs. A machine without internet (a CI runner, an offline laptop) cannot, so
the browser tests (``tests/test_book_browser.py``) answer those requests from the npm
packages that ``npm ci`` installs under ``node_modules/`` (see ``package.json``).
This module holds that mapping and a small static file server.

Command line::

    python tools/serve_book.py                 # serve _build/html on http://127.0.0.1:8000
    python tools/serve_book.py --port 0        # any free port
    python tools/serve_book.py --check-assets  # list the CDN URLs the built pages use
                                               # and whether each has a local copy

Serving this way does not rewrite the pages: a browser that cannot reach the CDNs
still shows unrendered math. The browser tests route the CDN requests with
Playwright instead (:func:`local_asset`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import http.server
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
HTML_DIR = REPO / "_build" / "html"
NODE_MODULES = REPO / "node_modules"

# npm-style CDNs: https://cdn.jsdelivr.net/npm/<pkg>[@<version>]/<path> and
# https://unpkg.com/<pkg>[@<version>]/<path>, where <pkg> may be @scope/name.
_NPM_CDN = re.compile(
    r"^https?://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/"
    r"(?P<pkg>(?:@[^/@]+/)?[^/@]+)(?:@(?P<version>[^/]+))?(?:/(?P<path>.*))?$"
)
# cdnjs serves require.js as require.min.js; the npm package ships require.js.
_CDNJS = {
    re.compile(r"^https?://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^/]+/require(\.min)?\.js$"): (
        "requirejs",
        "require.js",
    ),
}


def local_asset(url: str, node_modules: Path = NODE_MODULES) -> Path | None:
    """The local file that stands in for a CDN ``url``, or ``None`` if there is none.

    The version in the URL is not checked: ``package.json`` pins the versions that
    the book's pages ask for (MathJax 3, the widget manager 1.0.x, require.js 2.3).
    """
    url = url.split("#", 1)[0].split("?", 1)[0]
    for pattern, (pkg, path) in _CDNJS.items():
        if pattern.match(url):
            candidate = node_modules / pkg / path
            return candidate if candidate.is_file() else None
    m = _NPM_CDN.match(url)
    if not m:
        return None
    parts = [p for p in (m["path"] or "").split("/") if p]
    # never serve anything outside the package folder
    if not parts or any(p in (".", "..") for p in parts):
        return None
    candidate = node_modules.joinpath(m["pkg"], *parts)
    return candidate if candidate.is_file() else None


def is_external(url: str, base_url: str) -> bool:
    """True for an http(s) request that does not go to the local server."""
    if not url.startswith(("http://", "https://")):
        return False
    return not url.startswith(base_url)


_ASSET_URL = re.compile(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)["']""")


def cdn_urls(html_dir: Path = HTML_DIR) -> dict[str, list[str]]:
    """External script and stylesheet URLs in the built pages: url -> pages using it."""
    found: dict[str, list[str]] = {}
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", text):
            for url in _ASSET_URL.findall(tag):
                if tag.startswith("<link") and "stylesheet" not in tag and "preload" not in tag:
                    continue
                found.setdefault(url, []).append(page.relative_to(html_dir).as_posix())
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def serve(directory: Path = HTML_DIR, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``directory`` over HTTP in a background thread; yields the base URL (with /)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=HTML_DIR, help="built HTML (default: _build/html)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--check-assets", action="store_true", help="report CDN URLs and their local copies")
    args = parser.parse_args(argv)

    if not (args.dir / "index.html").is_file():
        print(f"no built book in {args.dir}: run bash tools/build_book.sh", file=sys.stderr)
        return 2
    if args.check_assets:
        missing = 0
        for url, pages in sorted(cdn_urls(args.dir).items()):
            local = local_asset(url)
            host = urlsplit(url).netloc
            where = os.path.relpath(local, REPO) if local else "NO LOCAL COPY"
            missing += local is None
            print(f"{url}\n    {len(pages)} page(s); {host} -> {where}")
        return 1 if missing else 0
    with serve(args.dir, port=args.port) as url:
        print(f"serving {args.dir} at {url} (Ctrl-C to stop)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
