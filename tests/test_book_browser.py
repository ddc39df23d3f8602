"""The built book, page by page, in headless Chromium.

Needs a built book in ``_build/html`` (``bash tools/build_book.sh``), the test assets
from ``npm ci`` (local copies of the scripts the pages load from CDNs), the Python
package ``playwright`` and Debian's ``chromium`` at ``/usr/bin/chromium`` (or the path
in ``GRU_BOOK_CHROMIUM``). Each missing piece skips these tests with the reason.

Every page of ``_toc.yml`` is checked in the same way, so chapters added later are
covered without new tests:

* the page loads, with no console error and no uncaught script error;
* no request leaves the machine: CDN requests are answered from ``node_modules``
  (:mod:`tools.serve_book`) and anything else external is aborted and reported;
* math is typeset by MathJax (``mjx-container``), with no TeX error (``mjx-merror``);
* every image has loaded, and every figure holds an image;
* no cell shows an error: no traceback output, no traceback on stderr;
* embedded widgets render (static widget state, no kernel);
* on executable chapters the Colab and Binder buttons open the chapter's ``.ipynb``,
  and that file exists in the repository;
* page-specific checks registered in :data:`PAGE_CHECKS` run on the pages they match.

The parameter explorer of the parameter-counting chapter has its own test,
:func:`test_parameter_explorer`; its contract is in that test's docstring.

Set ``GRU_BOOK_SCREENSHOTS=/some/dir`` to save a full-page PNG of every page.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML_DIR = REPO / "_build" / "html"
NODE_MODULES = REPO / "node_modules"
BRANCH = "main"
TIMEOUT_MS = 30_000


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"_book_tools_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


serve_book = _load_tool("serve_book")
sync_notebooks = _load_tool("sync_notebooks")
#: The launch buttons' repository: repository.url of _config.yml, its one place.
REPO_URL = sync_notebooks.repository_url(REPO)


# ----------------------------------------------------------------------------- pages


def toc_files() -> list[str]:
    """Every file named in ``_toc.yml`` (root first), as written there."""
    try:
        import yaml
    except ImportError:  # collected without the book's requirements
        return []
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                found.append(node["file"])
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    found.append(toc["root"])
    walk(toc)
    return found


def docname(entry: str) -> str:
    return re.sub(r"\.(md|ipynb|rst)$", "", entry)


def source_of(doc: str) -> Path | None:
    for suffix in (".md", ".ipynb", ".rst"):
        path = REPO / f"{doc}{suffix}"
        if path.is_file():
            return path
    return None


def is_executable(doc: str) -> bool:
    src = source_of(doc)
    if src is None:
        return False
    return src.suffix == ".ipynb" or (src.suffix == ".md" and sync_notebooks.is_myst_notebook(src))


PAGES = [docname(f) for f in toc_files()]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def built_book() -> Path:
    if not (HTML_DIR / "index.html").is_file():
        pytest.skip("build the book first: bash tools/build_book.sh (writes _build/html)")
    return HTML_DIR


@pytest.fixture(scope="session")
def browser(built_book, chromium):
    if not (NODE_MODULES / "mathjax").is_dir():
        pytest.skip("the browser tests serve CDN scripts from node_modules: run npm ci")
    return chromium


@pytest.fixture(scope="session")
def base_url(built_book):
    with serve_book.serve(built_book) as url:
        yield url


class PageVisit:
    """One page opened in a fresh browser context, with what happened while loading it."""

    def __init__(self, browser, base_url: str, doc: str):
        self.doc = doc
        self.url = f"{base_url}{doc}.html"
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.served_locally: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._route(base_url))
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.page.on("requestfailed", self._on_failed)

    def _route(self, base_url: str):
        def handle(route):
            url = route.request.url
            if not serve_book.is_external(url, base_url):
                return route.continue_()
            local = serve_book.local_asset(url, NODE_MODULES)
            if local is not None:
                self.served_locally.append(url)
                return route.fulfill(path=str(local), headers={"Access-Control-Allow-Origin": "*"})
            self.blocked.append(url)
            return route.abort("blockedbyclient")

        return handle

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.console_errors.append(f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")

    def _on_failed(self, request) -> None:
        if request.url not in self.blocked:
            self.failed.append(f"{request.url}: {request.failure}")

    def open(self):
        response = self.page.goto(self.url, wait_until="load")
        assert response is not None and response.ok, f"{self.url}: HTTP {response and response.status}"
        self.page.wait_for_load_state("networkidle")
        self.wait_for_mathjax()
        return self.page

    def wait_for_mathjax(self) -> None:
        has_math = self.page.locator(".math, .output_area .math, mjx-container").count() > 0
        if not has_math:
            return
        self.page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=TIMEOUT_MS
        )
        self.page.evaluate("() => MathJax.startup.promise.then(() => true)")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, base_url):
    visits: list[PageVisit] = []

    def open_page(doc: str) -> PageVisit:
        v = PageVisit(browser, base_url, doc)
        visits.append(v)
        v.open()
        return v

    yield open_page
    for v in visits:
        v.close()


# ----------------------------------------------------------------- general checks


def check_clean_load(v: PageVisit) -> None:
    problems = [f"console error: {e}" for e in v.console_errors]
    problems += [f"script error: {e}" for e in v.page_errors]
    problems += [f"external request without a local copy (aborted): {u}" for u in v.blocked]
    problems += [f"failed request: {u}" for u in v.failed]
    assert not problems, f"{v.doc}:\n" + "\n".join(problems)


def check_math(v: PageVisit) -> None:
    page = v.page
    sources = page.locator("main .math").count()
    if sources == 0:
        return
    typeset = page.locator("main mjx-container").count()
    assert typeset >= sources, f"{v.doc}: {sources} math elements, only {typeset} typeset by MathJax"
    errors = page.locator("mjx-merror")
    assert errors.count() == 0, f"{v.doc}: TeX errors: {errors.all_inner_texts()}"


_DRAWING_CELL = re.compile(r"plt\.show\(\)|\bplot_\w+\(|plt\.subplots\(|plt\.figure\(")


def drawing_cells(doc: str) -> int:
    """How many code cells of a chapter's MyST source draw a matplotlib figure."""
    if not is_executable(doc) or source_of(doc).suffix != ".md":
        return 0
    cells = sync_notebooks.expected_notebook(source_of(doc)).cells
    return sum(c.cell_type == "code" and bool(_DRAWING_CELL.search(c.source)) for c in cells)


def check_images(v: PageVisit) -> None:
    # Every cell that draws must show its figure as an image. A figure that was
    # drawn but not rendered (e.g. a kernel on a non-inline matplotlib backend)
    # leaves no image at all, or only its text form "<Figure size ... with N Axes>".
    drawn = drawing_cells(v.doc)
    shown = v.page.locator("main .cell_output img").count()
    assert shown >= drawn, f"{v.doc}: {drawn} code cells draw a figure, {shown} figure images on the page"
    as_text = [t for t in v.page.locator("main .cell_output").all_inner_texts() if re.search(r"<Figure size", t)]
    assert not as_text, f"{v.doc}: figures shown as text instead of images: {as_text[:3]}"
    broken = v.page.evaluate(
        """() => Array.from(document.querySelectorAll('main img'))
                 .filter(img => !(img.complete && img.naturalWidth > 0))
                 .map(img => img.getAttribute('src'))"""
    )
    assert not broken, f"{v.doc}: images that did not load: {broken}"
    empty_figures = v.page.evaluate(
        """() => Array.from(document.querySelectorAll('main figure'))
                 .filter(f => !f.querySelector('img, svg, canvas, video, iframe'))
                 .map(f => f.id || f.textContent.trim().slice(0, 60))"""
    )
    assert not empty_figures, f"{v.doc}: figures without an image: {empty_figures}"


_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*\w+(Error|Exception): ", re.M)


def check_no_error_outputs(v: PageVisit) -> None:
    page = v.page
    errors = page.locator("main .output.traceback, main .output.error")
    assert errors.count() == 0, f"{v.doc}: error outputs:\n" + "\n---\n".join(errors.all_inner_texts())
    stderr = [t for t in page.locator("main .output.stderr").all_inner_texts() if _ERROR_TEXT.search(t)]
    assert not stderr, f"{v.doc}: errors on stderr:\n" + "\n---\n".join(stderr)


def check_widgets(v: PageVisit) -> None:
    views = v.page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if views == 0:
        return
    v.page.wait_for_function(
        f"() => document.querySelectorAll('main .jupyter-widgets').length >= {views}", timeout=TIMEOUT_MS
    )


def launch_links(v: PageVisit) -> dict[str, str]:
    hrefs = v.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    links = {}
    for href in hrefs:
        if href.startswith("https://colab.research.google.com/"):
            links["colab"] = href
        elif href.startswith("https://mybinder.org/"):
            links["binder"] = href
    return links


def launch_target(kind: str, href: str) -> str:
    """The repository path a Colab or Binder link opens."""
    parts = urlsplit(href)
    if kind == "colab":
        prefix = f"/github/{REPO_URL.split('github.com/')[1]}/blob/{BRANCH}/"
        assert parts.path.startswith(prefix), f"Colab link {href} is not for {REPO_URL} ({BRANCH})"
        return parts.path[len(prefix):]
    prefix = f"/v2/gh/{REPO_URL.split('github.com/')[1]}/{BRANCH}"
    assert parts.path == prefix, f"Binder link {href} is not for {REPO_URL} ({BRANCH})"
    urlpath = parse_qs(parts.query)["urlpath"][0]
    return re.sub(r"^(lab/tree|tree)/", "", urlpath)


def check_launch_buttons(v: PageVisit) -> None:
    links = launch_links(v)
    if not is_executable(v.doc):
        return
    for kind in ("colab", "binder"):
        assert kind in links, f"{v.doc}: executable chapter without a {kind} launch button"
        target = launch_target(kind, links[kind])
        assert target == f"{v.doc}.ipynb", f"{v.doc}: {kind} opens {target}, not the chapter's notebook"
        assert (REPO / target).is_file(), (
            f"{v.doc}: {kind} opens {target}, which is not in the repository "
            "(python tools/sync_notebooks.py writes it; commit it)"
        )


#: Page-specific checks: CSS selector -> check, run on every page that has a match.
PAGE_CHECKS: dict[str, Callable[[PageVisit], None]] = {}


def page_check(selector: str):
    """Register a check for the pages that contain ``selector``."""

    def register(fn):
        PAGE_CHECKS[selector] = fn
        return fn

    return register


GENERAL_CHECKS = (
    check_clean_load,
    check_math,
    check_images,
    check_no_error_outputs,
    check_widgets,
    check_launch_buttons,
)


@pytest.mark.parametrize("doc", PAGES)
def test_page(visit, doc):
    assert (HTML_DIR / f"{doc}.html").is_file(), f"{doc} is in _toc.yml but was not built"
    v = visit(doc)
    shots = os.environ.get("GRU_BOOK_SCREENSHOTS")
    if shots:
        out = Path(shots) / f"{doc.replace('/', '__')}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        v.page.screenshot(path=str(out), full_page=True)
    for check in GENERAL_CHECKS:
        check(v)
    for selector, check in PAGE_CHECKS.items():
        if v.page.locator(selector).count():
            check(v)
    # a last look: nothing went wrong while the checks ran
    check_clean_load(v)


def test_toc_pages_found():
    assert PAGES, "no pages found in _toc.yml (is PyYAML installed?)"


# ------------------------------------------------------------- parameter explorer


def _digits(text: str) -> int | None:
    d = re.sub(r"\D", "", text)
    return int(d) if d else None


def _explorer_pages(html_dir: Path) -> list[str]:
    return sorted(
        p.relative_to(html_dir).with_suffix("").as_posix()
        for p in html_dir.rglob("*.html")
        if "_sources" not in p.parts and 'data-testid="pc-count"' in p.read_text(encoding="utf-8", errors="replace")
    )


def test_parameter_explorer(built_book, visit):
    """The parameter explorer answers on the static page, without a kernel.

    Contract for the page that shows it (any page of the book; found by its
    ``data-testid`` attributes), an HTML/JavaScript widget in the page itself:

    ========================================  ===================================================
    element                                   meaning
    ========================================  ===================================================
    ``<select data-testid="pc-model">``       option values are ``gru_lib.count_params`` model
                                              names: ``gru0`` ``gru1`` ``gru2`` ``gru3`` (and any
                                              of ``lstm`` ``rnn`` ``mgu``)
    ``<input data-testid="pc-n">``            hidden units n (``type="number"``, 1 … 4096 at least)
    ``<input data-testid="pc-m">``            input size m (same)
    ``<select data-testid="pc-convention">``  ``paper``: one bias per gate (Keras
                                              ``reset_after=False``);
                                              ``reset_after``: two bias vectors (PyTorch, cuDNN,
                                              Keras ``reset_after=True``; for the baselines,
                                              PyTorch's ``b_ih`` + ``b_hh``)
    ``<span data-testid="pc-count">``         the count; digits, optionally grouped
                                              (``30,600``, ``30 600``); nothing else in it
    optional ``<input data-testid="pc-layers">``          num_layers (default 1)
    optional ``<input type="checkbox" data-testid="pc-bidirectional">``  bidirectional
    ========================================  ===================================================

    The count updates on the ``input`` or ``change`` event of any control and equals
    ``gru_lib.count_params(model, hidden_size=n, input_size=m, reset_after=...)`` for
    GRUs, and ``double_bias=...`` in place of ``reset_after`` for the baselines.
    """
    pages = _explorer_pages(built_book)
    if not pages:
        pytest.skip('no page with the parameter explorer (data-testid="pc-count") yet')
    gru_lib = pytest.importorskip("gru_lib")
    if not hasattr(gru_lib, "count_params"):
        pytest.skip("gru_lib.count_params does not exist yet")
    variants = {"gru0", "gru1", "gru2", "gru3"}

    for doc in pages:
        v = visit(doc)
        page = v.page
        control = {k: page.get_by_test_id(f"pc-{k}") for k in ("model", "n", "m", "convention", "count")}
        for key, loc in control.items():
            assert loc.count() == 1, f"{doc}: expected one data-testid=pc-{key}, found {loc.count()}"
        layers = page.get_by_test_id("pc-layers")
        bidir = page.get_by_test_id("pc-bidirectional")
        models = control["model"].locator("option").evaluate_all("os => os.map(o => o.value)")
        conventions = control["convention"].locator("option").evaluate_all("os => os.map(o => o.value)")
        assert variants <= set(models), f"{doc}: pc-model options {models} lack some of {sorted(variants)}"
        assert set(conventions) == {"paper", "reset_after"}, f"{doc}: pc-convention options {conventions}"

        def set_value(loc, value) -> None:
            loc.fill(str(value))
            loc.dispatch_event("change")

        def expect_count(model, conv, n, m, num_layers=1, bidirectional=False) -> None:
            two_bias = conv == "reset_after"
            kwargs = {"reset_after": two_bias} if model in variants else {"double_bias": two_bias}
            want = gru_lib.count_params(
                model, hidden_size=n, input_size=m, num_layers=num_layers, bidirectional=bidirectional, **kwargs
            )
            try:
                page.wait_for_function(
                    "([el, want]) => el.textContent.replace(/\\D/g, '') === String(want)",
                    arg=[control["count"].element_handle(), want],
                    timeout=5_000,
                )
            except Exception:
                got = control["count"].inner_text()
                pytest.fail(
                    f"{doc}: model={model} convention={conv} n={n} m={m} layers={num_layers} "
                    f"bidirectional={bidirectional}: shows {got!r}, count_params gives {want}"
                )

        known = set(getattr(gru_lib, "MODELS", ())) or variants | {"lstm", "rnn", "mgu"}
        unknown = [m for m in models if m not in known]
        assert not unknown, f"{doc}: pc-model options that count_params does not know: {unknown}"
        for model in models:
            control["model"].select_option(model)
            for conv in conventions:
                control["convention"].select_option(conv)
                set_value(control["n"], 100)
                set_value(control["m"], 1)
                expect_count(model, conv, 100, 1)
                before = _digits(control["count"].inner_text())
                set_value(control["n"], 7)
                expect_count(model, conv, 7, 1)
                assert _digits(control["count"].inner_text()) != before, f"{doc}: count did not change with n"
                set_value(control["m"], 5)
                expect_count(model, conv, 7, 5)

        control["model"].select_option("gru0")
        control["convention"].select_option("paper")
        set_value(control["n"], 128)
        set_value(control["m"], 128)
        expect_count("gru0", "paper", 128, 128)
        num_layers = 1
        if layers.count():
            num_layers = 2
            set_value(layers, num_layers)
            expect_count("gru0", "paper", 128, 128, num_layers=num_layers)
        if bidir.count():
            bidir.check()
            bidir.dispatch_event("change")
            expect_count("gru0", "paper", 128, 128, num_layers=num_layers, bidirectional=True)
        check_clean_load(v)
