"""Sphinx extension: fixes to the HTML pages that Jupyter Book 1 writes.

Loaded from ``_config.yml`` (``sphinx: local_extensions``). It changes which scripts
a page loads and how its text is laid out, not what it says:

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

3. **Scripts from the site itself.** MathJax, require.js and the widget manager are
   served from the book's own ``_static/vendor/`` (:data:`VENDORED`), copied from the
   npm packages that ``package.json`` pins (``npm ci`` installs them in
   ``node_modules/``). The pages then render with no network at all (a classroom
   without internet, a downloaded copy), and no third-party script runs on them.
   ``_config.yml`` names the local paths (``mathjax_path``, ``nb_ipywidgets_js``).
   A build without the pinned packages fails, saying to run ``npm ci``.

4. **The book's style sheet**, ``static/book.css``: outputs wrap at the column's edge,
   long inline code breaks, and drop-downs read as controls.

5. **One search box.** With the theme versions that ``pyproject.toml`` pins
   (sphinx-book-theme 1.3, pydata-sphinx-theme 0.17), the pydata theme's default
   ``navbar_persistent`` puts a second search box in an otherwise empty bar across the
   top of every page. The sidebar has the book's search box; the bar is dropped.

6. **A formula keeps its punctuation.** An inline formula and the punctuation right after
   it (``$m = 128$.``) are wrapped in one ``span.math-nowrap``, so that the full stop or
   comma never starts a line of its own (:class:`MathKeepsItsPunctuation`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.transforms.post_transforms import SphinxPostTransform

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"
#: Where the vendored files go, under the built site's ``_static/``.
VENDOR_DIR = "vendor"
#: npm package -> the files and folders of it that the pages load (globs, relative to the package).
VENDORED: dict[str, tuple[str, ...]] = {
    "requirejs": ("require.js",),
    # the manager (one bundle) and its style sheet's icon fonts
    "@jupyter-widgets/html-manager": ("dist/embed-amd.js", "dist/*.woff", "dist/*.woff2",
                                      "dist/*.eot", "dist/*.ttf", "dist/*.svg"),
    # the combined component, and what it loads on demand (fonts, TeX extensions, menu, a11y;
    # not the speech rule engine that only an opt-in of the menu loads)
    "mathjax": ("es5/tex-mml-chtml.js", "es5/output/chtml", "es5/input/tex/extensions", "es5/a11y", "es5/ui",
                "es5/adaptors"),
}

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
            if "://" not in base:  # a file of this site: require.js resolves it from the page
                base = context["pathto"](base, 1)
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


def pinned_versions(root: Path = REPO) -> dict[str, str]:
    """The versions ``package.json`` pins, for the packages of :data:`VENDORED`."""
    pins = json.loads((root / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    return {name: pins[name] for name in VENDORED}


def vendor_problems(node_modules: Path = NODE_MODULES, root: Path = REPO) -> list[str]:
    """What keeps :func:`copy_vendored` from copying the pinned files: missing packages or versions."""
    problems = []
    for name, version in pinned_versions(root).items():
        manifest = node_modules / name / "package.json"
        if not manifest.is_file():
            problems.append(f"{name} is not installed")
            continue
        found = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        if found != version:
            problems.append(f"{name} is {found}, package.json pins {version}")
        for pattern in VENDORED[name]:
            if not list((node_modules / name).glob(pattern)):
                problems.append(f"{name} has no {pattern}")
    return problems


def copy_vendored(static_dir: Path, node_modules: Path = NODE_MODULES) -> list[Path]:
    """Copy the files of :data:`VENDORED` to ``static_dir/vendor/<package>/...``; return the files written."""
    written = []
    for name, patterns in VENDORED.items():
        for pattern in patterns:
            for src in sorted((node_modules / name).glob(pattern)):
                files = sorted(f for f in src.rglob("*") if f.is_file()) if src.is_dir() else [src]
                for f in files:
                    if f.suffix == ".map":
                        continue
                    dest = static_dir / VENDOR_DIR / name / f.relative_to(node_modules / name)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, dest)
                    written.append(dest)
    return written


def one_search_box(app, config) -> None:
    """No search box in the top bar (the sidebar holds one); the bar is then not drawn at all."""
    config.html_theme_options["navbar_persistent"] = []


def _add_static(app) -> None:
    # the book's style sheet (static/book.css): outputs that wrap, long inline code that breaks
    app.config.html_static_path.append(str(Path(__file__).with_name("static")))


def _check_vendored(app) -> None:
    # before any chapter runs, so that a missing `npm ci` fails the build at once
    if app.builder.format == "html":
        problems = vendor_problems()
        if problems:
            raise ExtensionError("the pages' scripts are served from the site, copied from node_modules/: "
                                 + "; ".join(problems) + ". Run: npm ci")


def _copy_vendored(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_vendored(Path(app.outdir) / "_static")


#: What may follow a formula closely and must stay on its line.
PUNCTUATION = ".,;:!?)]\u2019\u201d"


class MathKeepsItsPunctuation(SphinxPostTransform):
    """Wrap each inline formula and the punctuation that follows it in one no-wrap span.

    A browser may break a line between an inline formula and the text after it, so a
    sentence ending in ``$m = 128$.`` can show its full stop alone at the start of the
    next line. The span (``math-nowrap`` in ``static/book.css``) keeps the two together.
    Runs on the pages' doctrees, so the chapters' generated Markdown outputs are covered.
    """

    default_priority = 400
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        for math in list(self.document.findall(nodes.math)):
            parent = math.parent
            if parent is None:
                continue
            after = parent.index(math) + 1
            if after >= len(parent) or not isinstance(parent[after], nodes.Text):
                continue
            text = str(parent[after])
            n = len(text) - len(text.lstrip(PUNCTUATION))
            if n == 0:
                continue
            rest = text[n:]
            if rest:
                parent[after] = nodes.Text(rest)
            else:
                del parent[after]
            glue = nodes.inline(classes=["math-nowrap"])
            parent.replace(math, glue)
            glue += math
            glue += nodes.Text(text[:n])


def setup(app):
    app.add_post_transform(MathKeepsItsPunctuation)
    # late: after the theme and the other extensions have added their scripts
    app.connect("html-page-context", _fix_scripts, priority=900)
    app.connect("config-inited", one_search_box)
    app.connect("builder-inited", _check_vendored)
    app.connect("builder-inited", _add_static)
    app.add_css_file("book.css")
    app.connect("build-finished", _copy_vendored)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
