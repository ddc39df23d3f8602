"""Sphinx extension: fixes to the HTML pages that Jupyter Book 1 writes.

Loaded from ``_config.yml`` (``sphinx: local_extensions``). It changes which scripts
a page loads, and nothing else:

1. **Each script once.** sphinx-thebe's inline configuration (and
   sphinx-togglebutton's) can be registered twice; the page then declares
   ``const THEBE_JS_URL`` twice, and the second declaration is a script error.
   The first of identical scripts (same file or inline body, same attributes) is kept.

2. **Pages with embedded widgets** (myst-nb adds require.js and the widget manager
   ``@jupyter-widgets/html-manager/dist/embed-amd.js`` to them):

   * The manager finds its own files (the icon fonts of its style sheet) relative to
     the AMD module path that require.js gives it, which is relative to the *page*.
     A ``require.config`` before the manager maps that path to the CDN folder the
     manager came from, so the fonts load from there instead of 404ing.
   * The manager typesets widget labels through the MathJax 2 API
     (``MathJax.Hub.Queue``), while the book loads MathJax 3: on a page with both,
     every label raises a script error. A small bridge gives MathJax 3 that one call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_WIDGET_MANAGER = "/dist/embed-amd.js"

# Bridge from the one MathJax 2 call of the widget manager to MathJax 3 (a file beside
# this one). It runs after the page's MathJax configuration and before MathJax 3 loads.
_MATHJAX2_BRIDGE = Path(__file__).with_name("mathjax2_bridge.js").read_text(encoding="utf-8").strip()


def _filename(js: Any) -> str:
    return str(getattr(js, "filename", js) or "")


def _attributes(js: Any) -> dict:
    return dict(getattr(js, "attributes", {}) or {})


def _key(js: Any) -> tuple:
    return (_filename(js), tuple(sorted((k, str(v)) for k, v in _attributes(js).items())))


def _inline(like: Any, body: str) -> Any:
    """An inline script of the same class as ``like`` (Sphinx's script record)."""
    cls = type(like)
    if isinstance(like, str) or cls is str:
        raise TypeError("old-style script entries")
    return cls("", priority=getattr(like, "priority", 500), body=body)


def _fix_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        key = _key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)

    manager = next((i for i, js in enumerate(unique) if _filename(js).endswith(_WIDGET_MANAGER)), None)
    if manager is not None:
        try:
            base = _filename(unique[manager])[: -len(_WIDGET_MANAGER)]
            paths = {"@jupyter-widgets/html-manager": base}
            unique.insert(manager, _inline(unique[manager], f"require.config({{paths: {json.dumps(paths)}}});"))
            is_mathjax = [("mathjax" in _filename(js).lower()) for js in unique]
            if any(is_mathjax):
                config = [i for i, js in enumerate(unique) if _attributes(js).get("body", "").startswith("window.MathJax")]
                at = config[-1] + 1 if config else is_mathjax.index(True)
                unique.insert(at, _inline(unique[manager], _MATHJAX2_BRIDGE))
        except TypeError:
            pass
    context["script_files"] = unique


def setup(app):
    # late: after the theme and the other extensions have added their scripts
    app.connect("html-page-context", _fix_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
