#!/usr/bin/env python3
"""Serve the built book locally, and list any script it would load from elsewhere.

The book serves MathJax, require.js and the Jupyter widget manager from its own
``_static/vendor/`` (``tools/sphinx_ext/book_html.py`` copies them from the npm
packages that ``package.json`` pins), so a page needs no network to render. The
browser tests (``tests/test_book_browser.py``) serve the built book with this module
and block every other request.

Command line::

    python tools/serve_book.py                 # serve _build/html on http://127.0.0.1:8000
    python tools/serve_book.py --port 0        # any free port
    python tools/serve_book.py --check-assets  # list scripts and style sheets the built pages
                                               # load from other sites (exit 1 if any)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HTML_DIR = REPO / "_build" / "html"


def is_external(url: str, base_url: str) -> bool:
    """True for an http(s) request that does not go to the local server."""
    if not url.startswith(("http://", "https://")):
        return False
    return not url.startswith(base_url)


_ASSET_URL = re.compile(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)["']""")


def external_urls(html_dir: Path = HTML_DIR) -> dict[str, list[str]]:
    """Scripts and style sheets that the built pages load from other sites: url -> pages using it."""
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
        external = external_urls(args.dir)
        for url, pages in sorted(external.items()):
            print(f"{url}\n    loaded by {len(pages)} page(s), e.g. {pages[0]}")
        print(f"{len(external)} script(s) or style sheet(s) from other sites")
        return 1 if external else 0
    with serve(args.dir, port=args.port) as url:
        print(f"serving {args.dir} at {url} (Ctrl-C to stop)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
