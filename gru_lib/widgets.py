"""The parameter explorer: pick a model, ``n``, ``m`` and a bias convention, read the count.

It comes in two forms that compute the same numbers:

* :func:`parameter_explorer` — an ``ipywidgets`` form for a live kernel (Jupyter,
  Colab, Binder). Every change calls :func:`gru_lib.count_params`.
* :func:`static_explorer` / :func:`explorer_html` — a self-contained HTML form with
  its own JavaScript, for the published book, where no kernel runs. It needs no
  library and no network.

The JavaScript does not restate the formulas. :func:`formula_table` derives, for
every model and convention, the coefficients of the closed form of one layer,
``a·n² + b·nm + c·n``, by evaluating :func:`gru_lib.count_params` at three points,
and checks the result against ``count_params`` over a grid of sizes, layer counts
and directions before anything is emitted. The page's script reads that table and
applies the stacking rule of ``count_params``: layer ``l > 0`` of a stack takes the
previous layer's ``D·n`` outputs as its input (``D = 2`` when bidirectional), and
each direction has its own parameters. A change to the variant table
(:data:`gru_lib.VARIANTS`) or to :mod:`gru_lib.params` therefore reaches both forms.

Conventions (:data:`CONVENTIONS`):

``"paper"``
    One bias vector per gate and per candidate (Dey & Salem 2017; Keras
    ``reset_after=False``).
``"reset_after"``
    Two bias vectors, as in PyTorch, cuDNN and Keras ``reset_after=True``; for the
    simple RNN, LSTM and MGU, PyTorch's ``b_ih`` and ``b_hh``.

The static form's controls carry ``data-testid`` attributes, so that browser tests
can find them: ``pc-model``, ``pc-n``, ``pc-m``, ``pc-convention``, ``pc-layers``,
``pc-bidirectional`` and ``pc-count`` (the count, digits grouped by commas).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
from functools import lru_cache
from typing import Any

from .params import MODELS, count_formula, count_params
from .variants import VARIANTS

__all__ = [
    "CONVENTIONS",
    "CONVENTION_LABELS",
    "MODEL_LABELS",
    "ParameterExplorer",
    "explorer_count",
    "explorer_core_js",
    "explorer_html",
    "formula_table",
    "parameter_explorer",
    "static_explorer",
]

#: The two bias conventions the explorer offers (the option values of its menu).
CONVENTIONS = ("paper", "reset_after")

#: What the convention menu shows for each value.
CONVENTION_LABELS = {
    "paper": "one bias per gate (paper; Keras reset_after=False)",
    "reset_after": "two bias vectors (PyTorch, cuDNN; Keras reset_after=True)",
}

#: What the model menu shows for each model name of :func:`gru_lib.count_params`.
MODEL_LABELS = {
    "gru0": "GRU0 (the GRU)",
    "gru1": "GRU1 (gates: h, b)",
    "gru2": "GRU2 (gates: h)",
    "gru3": "GRU3 (gates: b)",
    "lstm": "LSTM",
    "rnn": "simple RNN",
    "mgu": "MGU",
}

#: Limits of the number fields (BigInt arithmetic in the page keeps counts exact).
MAX_SIZE = 1_000_000
MAX_LAYERS = 1000


def _kwargs(model: str, convention: str) -> dict[str, bool]:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {list(CONVENTIONS)}")
    two = convention == "reset_after"
    return {"reset_after": two} if model in VARIANTS else {"double_bias": two}


def explorer_count(
    model: str,
    n: int,
    m: int,
    convention: str = "paper",
    num_layers: int = 1,
    bidirectional: bool = False,
) -> int:
    """The number both explorers show: :func:`gru_lib.count_params` for a convention name.

    ``convention="reset_after"`` means ``reset_after=True`` for the GRUs and
    ``double_bias=True`` for the baselines.

    >>> explorer_count("gru0", 32, 32, "reset_after")   # Keras GRU(32) on 32 features
    6336
    """
    return count_params(
        model, n, m, num_layers=num_layers, bidirectional=bidirectional, **_kwargs(model, convention)
    )


def _plain(latex: str) -> str:
    """``count_formula``'s LaTeX as plain text: ``3(n^2 + nm + n) - 2nm`` → ``3(n² + nm + n) − 2nm``."""
    return latex.replace("^2", "²").replace(" - ", " − ")


def _expanded(a: int, b: int, c: int) -> str:
    terms = []
    for coef, mono in ((a, "n²"), (b, "nm"), (c, "n")):
        if coef == 0:
            continue
        sign = "−" if coef < 0 else "+"
        mag = abs(coef)
        body = mono if mag == 1 else f"{mag}{mono}"
        terms.append((sign, body))
    if not terms:
        return "0"
    first_sign, first = terms[0]
    out = ("−" if first_sign == "−" else "") + first
    for sign, body in terms[1:]:
        out += f" {sign} {body}"
    return out


def _stack(coef: tuple[int, int, int], n: int, m: int, layers: int, bidirectional: bool) -> int:
    """The page's stacking rule, in Python, for the self-check of :func:`formula_table`."""
    a, b, c = coef
    d = 2 if bidirectional else 1

    def layer(inp: int) -> int:
        return a * n * n + b * n * inp + c * n

    return d * (layer(m) + (layers - 1) * layer(d * n))


_CHECK_SIZES = ((1, 1), (2, 3), (3, 2), (7, 5), (17, 1), (64, 300), (128, 128))


@lru_cache(maxsize=None)
def _table() -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for model in MODELS:
        table[model] = {}
        for conv in CONVENTIONS:
            kw = _kwargs(model, conv)

            def p(n: int, m: int) -> int:
                return count_params(model, n, m, **kw)  # noqa: B023 (used at once)

            b = p(1, 2) - p(1, 1)
            two_a = p(2, 1) - 2 * p(1, 1)
            if two_a % 2:
                raise RuntimeError(f"count_params({model!r}) is not of the form a·n² + b·nm + c·n")
            a = two_a // 2
            c = p(1, 1) - a - b
            coef = (a, b, c)
            for (n, m), layers, bidir in itertools.product(_CHECK_SIZES, (1, 2, 3), (False, True)):
                want = count_params(model, n, m, num_layers=layers, bidirectional=bidir, **kw)
                if _stack(coef, n, m, layers, bidir) != want:
                    raise RuntimeError(
                        f"the explorer's closed form for {model!r} ({conv}) disagrees with count_params "
                        f"at n={n}, m={m}, num_layers={layers}, bidirectional={bidir}"
                    )
            table[model][conv] = {
                "n2": a,
                "nm": b,
                "n": c,
                "formula": _plain(count_formula(model, **kw)),
                "expanded": _expanded(a, b, c),
            }
    return table


def formula_table() -> dict[str, dict[str, dict[str, Any]]]:
    """Per-layer closed forms of every model and convention, derived from :func:`gru_lib.count_params`.

    Returns ``{model: {convention: {"n2": a, "nm": b, "n": c, "formula": str,
    "expanded": str}}}`` where one layer and direction with ``n`` units on ``m``
    inputs has ``a·n² + b·nm + c·n`` parameters; ``formula`` is
    :func:`gru_lib.count_formula` as plain text and ``expanded`` the polynomial.
    The coefficients are fitted at three points and verified on a grid of sizes,
    layer counts and directions; a disagreement raises ``RuntimeError``.

    >>> formula_table()["gru1"]["paper"]["expanded"]
    '3n² + nm + 3n'
    """
    return json.loads(json.dumps(_table()))  # a fresh copy


# --------------------------------------------------------------------------- JavaScript

_CORE_JS = r"""
/* gru_lib parameter explorer: counts from a table of per-layer closed forms. */
function gruLibCount(table, model, convention, n, m, layers, bidirectional) {
  var k = table[model][convention];
  var N = BigInt(n), M = BigInt(m), D = bidirectional ? 2n : 1n;
  function layer(inp) {
    return BigInt(k.n2) * N * N + BigInt(k.nm) * N * inp + BigInt(k.n) * N;
  }
  var total = layer(M) + BigInt(layers - 1) * layer(D * N);
  return D * total;
}
function gruLibGroup(x) {
  return x.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
""".strip()

_BIND_JS = r"""
(function () {
  var root = document.getElementById(ROOT_ID);
  if (!root || root.dataset.bound) return;
  root.dataset.bound = "1";
  var table = TABLE;
  function el(name) { return root.querySelector('[data-testid="pc-' + name + '"]'); }
  var model = el("model"), conv = el("convention"), nIn = el("n"), mIn = el("m"),
      layers = el("layers"), bidir = el("bidirectional"), count = el("count"),
      formula = root.querySelector(".gru-pc-formula"), note = root.querySelector(".gru-pc-note");
  function whole(input, lo, hi) {
    var s = input.value.trim();
    if (!/^\d+$/.test(s)) return null;
    var v = Number(s);
    return (v >= lo && v <= hi) ? v : null;
  }
  function update() {
    var n = whole(nIn, 1, MAX_SIZE), m = whole(mIn, 1, MAX_SIZE), L = whole(layers, 1, MAX_LAYERS);
    var bad = [];
    if (n === null) bad.push("n");
    if (m === null) bad.push("m");
    if (L === null) bad.push("layers");
    var k = table[model.value][conv.value];
    formula.textContent = k.formula + "  =  " + k.expanded;
    if (bad.length) {
      count.textContent = "";
      note.textContent = "Enter whole numbers: n and m from 1 to " + gruLibGroup(MAX_SIZE) +
        ", layers from 1 to " + MAX_LAYERS + " (check " + bad.join(", ") + ").";
      return;
    }
    var total = gruLibCount(table, model.value, conv.value, n, m, L, bidir.checked);
    count.textContent = gruLibGroup(total);
    var ref = gruLibCount(table, "gru0", conv.value, n, m, L, bidir.checked);
    if (model.value === "gru0") {
      note.textContent = "the full GRU in this convention";
    } else {
      var diff = ref - total, pct = Number(diff * 10000n / ref) / 100;
      note.textContent = (diff >= 0n ? gruLibGroup(diff) + " fewer" : gruLibGroup(-diff) + " more") +
        " than GRU0 (" + gruLibGroup(ref) + "): " + Math.abs(pct).toFixed(2) + "% " +
        (diff >= 0n ? "saved" : "added");
    }
  }
  [model, conv, nIn, mIn, layers, bidir].forEach(function (c) {
    c.addEventListener("input", update);
    c.addEventListener("change", update);
  });
  update();
})();
""".strip()

_STYLE = """
.gru-pc { border: 1px solid rgba(128,128,128,.45); border-radius: 6px; padding: .8em 1em;
          margin: .5em 0 1em; font-size: .95em; }
.gru-pc-row { display: flex; flex-wrap: wrap; gap: .6em 1.4em; align-items: center; margin: .3em 0; }
.gru-pc label { display: inline-flex; gap: .4em; align-items: center; }
.gru-pc select, .gru-pc input[type=number] { font: inherit; padding: .1em .3em;
          border: 1px solid rgba(128,128,128,.6); border-radius: 4px; }
.gru-pc input[type=number] { width: 7em; }
.gru-pc input.gru-pc-small { width: 4.5em; }
.gru-pc-result { font-size: 1.15em; margin-top: .5em; }
.gru-pc-count { font-weight: bold; font-variant-numeric: tabular-nums; }
.gru-pc-formula { font-family: var(--pst-font-family-monospace, monospace); }
.gru-pc-note { opacity: .8; }
""".strip()


def explorer_core_js() -> str:
    """The JavaScript that computes counts: ``gruLibCount(table, model, convention, n, m, layers, bidirectional)``.

    It returns a ``BigInt``; ``table`` is :func:`formula_table`. The same text is
    embedded verbatim in :func:`explorer_html`, which the tests run with Node.js.
    """
    return _CORE_JS


def _options(values, labels, selected) -> str:
    return "".join(
        f'<option value="{html.escape(v)}"{" selected" if v == selected else ""}>{html.escape(labels[v])}</option>'
        for v in values
    )


def explorer_html(
    model: str = "gru0",
    n: int = 100,
    m: int = 1,
    convention: str = "paper",
    num_layers: int = 1,
    bidirectional: bool = False,
) -> str:
    """The static parameter explorer: one HTML fragment with its style and script.

    The arguments set the initial state. The fragment works on any web page: it
    loads nothing, and computes with the table of :func:`formula_table`. Its count
    agrees with :func:`explorer_count` for every input (``tests/test_widgets.py``).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    _kwargs(model, convention)  # validates the convention
    n0, m0, l0 = (int(v) for v in (n, m, num_layers))
    initial = explorer_count(model, n0, m0, convention, l0, bidirectional)
    table_json = json.dumps(_table(), sort_keys=True, ensure_ascii=True)
    state = f"{model}|{n0}|{m0}|{convention}|{l0}|{bool(bidirectional)}"
    root_id = "gru-pc-" + hashlib.sha1((state + table_json).encode()).hexdigest()[:10]
    bind = (
        _BIND_JS.replace("ROOT_ID", json.dumps(root_id))
        .replace("TABLE", table_json)
        .replace("MAX_SIZE", str(MAX_SIZE))
        .replace("MAX_LAYERS", str(MAX_LAYERS))
    )
    k = _table()[model][convention]
    ids = {name: f"{root_id}-{name}" for name in ("model", "conv", "n", "m", "layers", "bidir")}
    return f"""<div class="gru-pc" id="{root_id}">
<style>{_STYLE}</style>
<div class="gru-pc-row">
<label for="{ids['model']}">model <select id="{ids['model']}" data-testid="pc-model">{_options(MODELS, MODEL_LABELS, model)}</select></label>
<label for="{ids['conv']}">biases <select id="{ids['conv']}" data-testid="pc-convention">{_options(CONVENTIONS, CONVENTION_LABELS, convention)}</select></label>
</div>
<div class="gru-pc-row">
<label for="{ids['n']}">hidden units <i>n</i> <input id="{ids['n']}" type="number" min="1" max="{MAX_SIZE}" step="1" value="{n0}" data-testid="pc-n"></label>
<label for="{ids['m']}">inputs <i>m</i> <input id="{ids['m']}" type="number" min="1" max="{MAX_SIZE}" step="1" value="{m0}" data-testid="pc-m"></label>
<label for="{ids['layers']}">layers <input id="{ids['layers']}" class="gru-pc-small" type="number" min="1" max="{MAX_LAYERS}" step="1" value="{l0}" data-testid="pc-layers"></label>
<label for="{ids['bidir']}"><input id="{ids['bidir']}" type="checkbox"{" checked" if bidirectional else ""} data-testid="pc-bidirectional"> bidirectional</label>
</div>
<div class="gru-pc-result" aria-live="polite"><span class="gru-pc-count" data-testid="pc-count">{initial:,}</span> parameters</div>
<div class="gru-pc-row"><span>one layer and direction: <span class="gru-pc-formula">{html.escape(k['formula'])}  =  {html.escape(k['expanded'])}</span></span></div>
<div class="gru-pc-row"><span class="gru-pc-note"></span></div>
<script>
{_CORE_JS}
{bind}
</script>
</div>"""


def static_explorer(**kwargs: Any):
    """:func:`explorer_html` wrapped in ``IPython.display.HTML``, for a notebook cell's output."""
    from IPython.display import HTML

    return HTML(explorer_html(**kwargs))


# --------------------------------------------------------------------------- ipywidgets


class ParameterExplorer:
    """The ``ipywidgets`` parameter explorer; build it with :func:`parameter_explorer`.

    Displaying the object shows the form. The controls are attributes, so code
    can drive the form as a reader would: ``model`` and ``convention``
    (``Dropdown``), ``n``, ``m`` and ``layers`` (``BoundedIntText``),
    ``bidirectional`` (``Checkbox``); ``result`` is the ``HTMLMath`` output and
    ``widget`` the whole form (a ``VBox``).
    """

    def __init__(
        self,
        model: str = "gru0",
        n: int = 100,
        m: int = 1,
        convention: str = "paper",
        num_layers: int = 1,
        bidirectional: bool = False,
    ) -> None:
        import ipywidgets as w

        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
        _kwargs(model, convention)
        self.model = w.Dropdown(options=[(MODEL_LABELS[k], k) for k in MODELS], value=model, description="model")
        self.convention = w.Dropdown(
            options=[(CONVENTION_LABELS[k], k) for k in CONVENTIONS], value=convention, description="biases",
            layout=w.Layout(width="max-content"),
        )
        self.n = w.BoundedIntText(value=n, min=1, max=MAX_SIZE, description="n (hidden)")
        self.m = w.BoundedIntText(value=m, min=1, max=MAX_SIZE, description="m (inputs)")
        self.layers = w.BoundedIntText(value=num_layers, min=1, max=MAX_LAYERS, description="layers")
        self.bidirectional = w.Checkbox(value=bidirectional, description="bidirectional")
        self.result = w.HTMLMath()
        for control in (self.model, self.convention, self.n, self.m, self.layers, self.bidirectional):
            control.observe(self._update, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.model, self.convention]),
                w.HBox([self.n, self.m]),
                w.HBox([self.layers, self.bidirectional]),
                self.result,
            ]
        )
        self._update()

    @property
    def count(self) -> int:
        """The count for the current settings (what the form shows)."""
        return explorer_count(
            self.model.value, self.n.value, self.m.value, self.convention.value,
            self.layers.value, self.bidirectional.value,
        )

    def _update(self, _change: Any = None) -> None:
        model, conv = self.model.value, self.convention.value
        total = self.count
        ref = explorer_count("gru0", self.n.value, self.m.value, conv, self.layers.value, self.bidirectional.value)
        kw = _kwargs(model, conv)
        if model == "gru0":
            note = "the full GRU in this convention"
        else:
            diff = ref - total
            note = (f"{abs(diff):,} {'fewer' if diff >= 0 else 'more'} than GRU0 ({ref:,}): "
                    f"{abs(diff) / ref:.2%} {'saved' if diff >= 0 else 'added'}")
        self.result.value = (
            f"<div style='font-size:1.15em'><b>{total:,}</b> parameters</div>"
            f"<div>one layer and direction: ${count_formula(model, **kw)}$</div>"
            f"<div style='opacity:.8'>{note}</div>"
        )

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)


def parameter_explorer(
    model: str = "gru0",
    n: int = 100,
    m: int = 1,
    convention: str = "paper",
    num_layers: int = 1,
    bidirectional: bool = False,
) -> ParameterExplorer:
    """The parameter explorer as ``ipywidgets``, computing with :func:`gru_lib.count_params`.

    Needs a live kernel (the published page cannot run its callbacks: use
    :func:`static_explorer` there) and the ``ipywidgets`` package.
    """
    return ParameterExplorer(model, n, m, convention, num_layers, bidirectional)
