"""The built book, page by page, in headless Chromium.

Needs a built book in ``_build/html`` (``bash tools/build_book.sh``, after ``npm ci``:
the book serves MathJax, require.js and the widget manager from its own site), the
Python package ``playwright`` and Debian's ``chromium`` at ``/usr/bin/chromium`` (or the
path in ``GRU_BOOK_CHROMIUM``). Each missing piece skips these tests with the reason.

Every page of ``_toc.yml`` is checked in the same way, so chapters added later are
covered without new tests:

* the page loads, with no console error and no uncaught script error;
* the network is blocked: every request that leaves the local server is aborted and
  reported, so a page passes only if it renders from the site alone;
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
    return chromium


@pytest.fixture(scope="session")
def base_url(built_book):
    with serve_book.serve(built_book) as url:
        yield url


class PageVisit:
    """One page opened in a fresh browser context, with what happened while loading it."""

    def __init__(self, browser, base_url: str, doc: str, width: int = 1280):
        self.doc = doc
        self.url = f"{base_url}{doc}.html"
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._route(base_url))
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.page.on("requestfailed", self._on_failed)

    def _route(self, base_url: str):
        # the network is blocked: only the local server answers
        def handle(route):
            url = route.request.url
            if not serve_book.is_external(url, base_url):
                return route.continue_()
            self.blocked.append(url)
            return route.abort("internetdisconnected")

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

    def open_page(doc: str, width: int = 1280) -> PageVisit:
        v = PageVisit(browser, base_url, doc, width)
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
    problems += [f"request to another site (the network is blocked): {u}" for u in v.blocked]
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


def check_one_search_box(v: PageVisit) -> None:
    boxes = v.page.locator(".search-button-field")
    visible = sum(boxes.nth(i).is_visible() for i in range(boxes.count()))
    assert visible == 1, f"{v.doc}: {visible} search boxes shown, expected one (in the sidebar)"


def check_no_progress_widgets(v: PageVisit) -> None:
    # a live progress bar's widget state, stored in the page, leaves blank gaps around the live runs
    states = v.page.locator('script[type="application/vnd.jupyter.widget-state+json"]').all_inner_texts()
    bars = [s for s in states if "FloatProgressModel" in s or "IntProgressModel" in s]
    assert not bars, f"{v.doc}: progress-bar widget state embedded in the page"


GENERAL_CHECKS = (
    check_clean_load,
    check_one_search_box,
    check_no_progress_widgets,
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


#: Blocks that must fit their column: outputs, code, equations, tables and images.
_BLOCKS = ("main .cell_output, main pre, main div.math, main mjx-container[display], "
           "main mjx-container[display] > mjx-math, main table, main img")

_TOO_WIDE = """(selector) => {
  const main = document.querySelector('main');
  const column = (main.querySelector('article') || main).getBoundingClientRect();
  // an element that scrolls on purpose (overflow-x auto or scroll) may hold wider content
  const scrolls = (el) => {
    for (let e = el; e && e !== main; e = e.parentElement) {
      const ox = getComputedStyle(e).overflowX;
      if (ox === 'auto' || ox === 'scroll') return true;
    }
    return false;
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '')
      + ': ' + (el.textContent || el.getAttribute('src') || '').trim().slice(0, 60);
  const found = [];
  for (const el of main.querySelectorAll(selector)) {
    if (!el.getClientRects().length) continue;            // folded away
    const box = el.getBoundingClientRect();
    const clipped = el.scrollWidth > el.clientWidth + 1;
    const sticksOut = box.right > column.right + 1 || box.left < column.left - 1;
    // content that overflows to the left cannot be scrolled into view, so no block excuses it
    if (box.left < column.left - 1) {
      found.push(`${describe(el)} (starts ${Math.round(column.left - box.left)} px left of the column, out of reach)`);
      continue;
    }
    if ((clipped || sticksOut) && !scrolls(el.parentElement)
        && !(clipped && !sticksOut && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))) {
      found.push(`${describe(el)} (${el.scrollWidth} px in ${el.clientWidth} px; right edge ${Math.round(box.right)}`
                 + ` of the column's ${Math.round(column.right)})`);
    }
  }
  return found;
}"""


#: The outermost elements of the article that reach past the window's right edge.
_WIDEST = """() => {
  const out = [];
  const scrolls = (el) => {   // inside a block that scrolls (or clips) on purpose
    for (let e = el; e; e = e.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX)) return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll('main article *')) {
    const right = el.getBoundingClientRect().right;
    if (right > window.innerWidth + 1 && !scrolls(el.parentElement)
        && el.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
      out.push(`${el.tagName.toLowerCase()}.${el.className}: ${(el.textContent || '').trim().slice(0, 60)} (right edge ${Math.round(right)})`);
  }
  return out.slice(0, 10);
}"""


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
@pytest.mark.parametrize("doc", PAGES)
def test_nothing_is_wider_than_its_column(visit, doc, width):
    """At desktop and phone widths, no output, code, equation, table or image sticks out of its column
    or is clipped, unless it (or a block around it) scrolls on purpose."""
    v = visit(doc, width)
    shots = os.environ.get("GRU_BOOK_SCREENSHOTS")
    if shots and width != 1280:
        out = Path(shots) / f"{doc.replace('/', '__')}-{width}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        v.page.screenshot(path=str(out), full_page=True)
    too_wide = v.page.evaluate(_TOO_WIDE, _BLOCKS)
    assert not too_wide, f"{doc} at {width} px:\n" + "\n".join(too_wide)
    # Whatever the blocks above miss (an API signature, a field list, a long inline literal),
    # the page as a whole must not scroll sideways.
    page_width, viewport = v.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert page_width <= viewport + 1, (
        f"{doc} at {width} px scrolls sideways: the page is {page_width} px wide, "
        f"the window {viewport} px; the widest elements:\n" + "\n".join(v.page.evaluate(_WIDEST)))


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
