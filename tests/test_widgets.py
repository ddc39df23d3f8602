"""The parameter explorer: the ipywidgets form, the static HTML/JavaScript form, and count_params agree.

The static form's arithmetic (:func:`gru_lib.widgets.explorer_core_js`) is run with
Node.js over a grid of models, conventions, sizes, layer counts and directions; the
whole fragment (controls and event handlers) is driven in headless Chromium when
Playwright and Chromium are there. Each missing tool skips its test with the reason.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess

import pytest

from gru_lib import MODELS, VARIANTS, count_params
from gru_lib import widgets


def reference(model, n, m, convention, layers=1, bidirectional=False):
    two = convention == "reset_after"
    kw = {"reset_after": two} if model in VARIANTS else {"double_bias": two}
    return count_params(model, n, m, num_layers=layers, bidirectional=bidirectional, **kw)


#: (model, n, m, convention, num_layers, bidirectional), the argument order of explorer_count
GRID = [
    (model, n, m, conv, layers, bidir)
    for model, conv in itertools.product(MODELS, widgets.CONVENTIONS)
    for (n, m), layers, bidir in itertools.product(
        [(1, 1), (7, 5), (100, 1), (128, 128), (5, 25), (32, 32), (3, 4096), (1_000_000, 1_000_000)],
        [1, 2, 5],
        [False, True],
    )
]


# ----------------------------------------------------------------------- the table


def test_conventions_are_the_browser_contract():
    assert widgets.CONVENTIONS == ("paper", "reset_after")
    assert set(widgets.MODEL_LABELS) == set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_formula_table_reproduces_count_params(model):
    table = widgets.formula_table()
    for conv in widgets.CONVENTIONS:
        k = table[model][conv]
        for n, m in [(1, 1), (2, 9), (100, 1), (128, 128), (513, 77)]:
            assert k["n2"] * n * n + k["nm"] * n * m + k["n"] * n == reference(model, n, m, conv)


def test_formula_table_strings():
    table = widgets.formula_table()
    assert table["gru0"]["paper"]["formula"] == "3(n² + nm + n)"
    assert table["gru0"]["reset_after"]["expanded"] == "3n² + 3nm + 6n"
    assert table["gru3"]["paper"]["expanded"] == "n² + nm + 3n"
    assert table["rnn"]["paper"]["expanded"] == "n² + nm + n"
    table["gru0"]["paper"]["n2"] = 99  # a copy: the cached table is not affected
    assert widgets.formula_table()["gru0"]["paper"]["n2"] == 3


def test_explorer_count_matches_count_params_and_the_seeds():
    for case in GRID[:: 7]:
        assert widgets.explorer_count(*case) == reference(*case)
    assert widgets.explorer_count("gru0", 32, 32, "reset_after") == 6336  # Keras GRU(32), seed 004
    assert widgets.explorer_count("gru0", 5, 25, "reset_after") == 480
    assert widgets.explorer_count("gru0", 5, 25, "paper") == 465
    with pytest.raises(ValueError, match="convention"):
        widgets.explorer_count("gru0", 5, 25, "keras")


# ------------------------------------------------------------------ JavaScript (Node)


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("Node.js is not installed")
    return exe


def run_js(node, script: str) -> str:
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_core_js_matches_count_params_over_a_grid(node):
    table = widgets.formula_table()
    script = (
        widgets.explorer_core_js()
        + f"\nconst table = {json.dumps(table)};\nconst cases = {json.dumps(GRID)};\n"
        + "console.log(JSON.stringify(cases.map(c => "
        "[gruLibCount(table, c[0], c[3], c[1], c[2], c[4], c[5]).toString(), "
        "gruLibGroup(gruLibCount(table, c[0], c[3], c[1], c[2], c[4], c[5]))])));"
    )
    results = json.loads(run_js(node, script))
    assert len(results) == len(GRID)
    for case, (raw, grouped) in zip(GRID, results):
        want = reference(*case)
        assert int(raw) == want, case
        assert grouped == f"{want:,}", case


def test_html_embeds_the_tested_core_and_table():
    html = widgets.explorer_html()
    assert widgets.explorer_core_js() in html
    assert json.dumps(widgets.formula_table(), sort_keys=True, ensure_ascii=True) in html
    for testid in ("model", "n", "m", "convention", "count", "layers", "bidirectional"):
        assert html.count(f'data-testid="pc-{testid}"') == 1, testid
    select = re.search(r'<select[^>]*data-testid="pc-model">(.*?)</select>', html).group(1)
    assert re.findall(r'value="([^"]+)"', select) == list(MODELS)
    select = re.search(r'<select[^>]*data-testid="pc-convention">(.*?)</select>', html).group(1)
    assert re.findall(r'value="([^"]+)"', select) == list(widgets.CONVENTIONS)
    assert re.search(r'<input[^>]*type="number"[^>]*max="1000000"[^>]*data-testid="pc-n"', html)
    assert "<script src" not in html and "http" not in html  # self-contained


@pytest.mark.parametrize("state", [
    dict(),
    dict(model="gru3", n=128, m=128),
    dict(model="lstm", n=7, m=5, convention="reset_after"),
    dict(model="gru1", n=64, m=300, convention="reset_after", num_layers=2, bidirectional=True),
])
def test_html_initial_count(state):
    html = widgets.explorer_html(**state)
    shown = re.search(r'data-testid="pc-count">([^<]*)<', html).group(1)
    full = {"model": "gru0", "n": 100, "m": 1, "convention": "paper", "num_layers": 1, "bidirectional": False}
    full.update(state)
    want = widgets.explorer_count(full["model"], full["n"], full["m"], full["convention"], full["num_layers"],
                                  full["bidirectional"])
    assert shown == f"{want:,}"


def test_html_ids_are_distinct_per_state():
    a, b = widgets.explorer_html(), widgets.explorer_html(model="gru2")
    ids = [re.search(r'class="gru-pc" id="([^"]+)"', h).group(1) for h in (a, b)]
    assert ids[0] != ids[1]
    assert widgets.explorer_html() == a  # deterministic: rebuilding the book changes nothing


def test_html_rejects_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        widgets.explorer_html(model="gru9")
    with pytest.raises(ValueError, match="convention"):
        widgets.explorer_html(convention="pytorch")


def test_static_explorer_is_an_html_display():
    IPython = pytest.importorskip("IPython")
    obj = widgets.static_explorer(model="mgu")
    assert isinstance(obj, IPython.display.HTML)
    assert 'data-testid="pc-count"' in obj.data


# ------------------------------------------------------------ the page in Chromium


@pytest.fixture
def chromium_page(chromium):
    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_content(f"<!doctype html><html><body>{widgets.explorer_html()}</body></html>")
    yield page, errors
    page.close()


@pytest.mark.browser
def test_static_explorer_in_chromium(chromium_page):
    page, errors = chromium_page
    get = page.get_by_test_id

    def show(model, conv, n, m, layers, bidir):
        get("pc-model").select_option(model)
        get("pc-convention").select_option(conv)
        for key, value in (("pc-n", n), ("pc-m", m), ("pc-layers", layers)):
            get(key).fill(str(value))
            get(key).dispatch_event("change")
        get("pc-bidirectional").set_checked(bidir)
        return get("pc-count").inner_text()

    for model, conv in itertools.product(MODELS, widgets.CONVENTIONS):
        for n, m, layers, bidir in [(100, 1, 1, False), (7, 5, 2, True), (128, 128, 1, False)]:
            assert show(model, conv, n, m, layers, bidir) == f"{reference(model, n, m, conv, layers, bidir):,}"
    # invalid input: no count, and a note that says what to fix
    show("gru0", "paper", 100, 1, 1, False)
    get("pc-n").fill("0")
    get("pc-n").dispatch_event("input")
    assert get("pc-count").inner_text() == ""
    assert "whole numbers" in page.locator(".gru-pc-note").inner_text()
    get("pc-n").fill("128")
    get("pc-n").dispatch_event("input")
    assert get("pc-count").inner_text() == f"{count_params('gru0', 128, 1):,}"
    show("gru1", "paper", 128, 128, 1, False)
    assert "32,768 fewer than GRU0 (98,688)" in page.locator(".gru-pc-note").inner_text()
    assert not errors


# -------------------------------------------------------------------- ipywidgets


def test_ipywidgets_explorer_follows_its_controls():
    pytest.importorskip("ipywidgets")
    ex = widgets.parameter_explorer()
    assert ex.count == 30600 and "30,600" in ex.result.value
    ex.model.value = "gru3"
    ex.n.value, ex.m.value = 128, 128
    assert ex.count == 33152 and "<b>33,152</b>" in ex.result.value
    assert "65,536 fewer than GRU0 (98,688)" in ex.result.value
    assert "2(nm + n^2)" in ex.result.value  # count_formula, typeset by HTMLMath
    ex.convention.value = "reset_after"
    ex.model.value = "gru0"
    ex.n.value, ex.m.value = 32, 32
    assert ex.count == 6336 and "6,336" in ex.result.value
    ex.layers.value, ex.bidirectional.value = 2, True
    assert ex.count == count_params("gru0", 32, 32, reset_after=True, num_layers=2, bidirectional=True)
    for case in GRID[:: 13]:
        model, n, m, conv, layers, bidir = case
        ex.model.value, ex.convention.value = model, conv
        ex.n.value, ex.m.value, ex.layers.value, ex.bidirectional.value = n, m, layers, bidir
        assert ex.count == reference(*case)
        assert f"<b>{reference(*case):,}</b>" in ex.result.value
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_ipywidgets_explorer_rejects_bad_arguments():
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match="model"):
        widgets.parameter_explorer(model="gru7")
    with pytest.raises(ValueError, match="convention"):
        widgets.parameter_explorer(convention="keras")


@pytest.mark.browser
@pytest.mark.parametrize("width", [358, 300])
def test_static_explorer_fits_a_phone_column(chromium, width):
    """At a phone's column width (390 px less the page's margins) no control runs out of the box."""
    page = chromium.new_page(viewport={"width": width + 32, "height": 800})
    try:
        page.set_content(f'<!doctype html><html><body style="margin:0 16px"><div style="width:{width}px">'
                         f"{widgets.explorer_html(convention='reset_after')}</div></body></html>")
        box = page.locator(".gru-pc").bounding_box()
        right = box["x"] + box["width"]
        for key in ("model", "convention", "n", "m", "layers", "bidirectional"):
            control = page.get_by_test_id(f"pc-{key}").bounding_box()
            end = control["x"] + control["width"]
            assert end <= right, f"pc-{key} ends at {end:.0f} px, the explorer's box at {right:.0f} px"
        assert page.evaluate("(e => e.scrollWidth <= e.clientWidth)(document.querySelector('.gru-pc'))")
    finally:
        page.close()
