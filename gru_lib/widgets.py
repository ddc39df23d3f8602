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

Conventions (:data:`gru_lib.params.CONVENTIONS`):

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
from importlib import resources
from typing import Any

from .params import CONVENTIONS, MODELS, convention_kwargs, count_formula, count_params
from .params import MODEL_LABELS as _LABELS
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

#: What the convention menu shows for each of :data:`gru_lib.params.CONVENTIONS`: the
#: number of bias vectors and the libraries that use each convention.
#:
#: :meta hide-value:
CONVENTION_LABELS = {
    "paper": "one bias per gate (paper; Keras reset_after=False)",
    "reset_after": "two bias vectors (PyTorch, cuDNN; Keras reset_after=True)",
}


def _menu_label(model: str) -> str:
    label = _LABELS[model]
    if model == "gru0":
        return f"{label} (the GRU)"
    if model in VARIANTS:
        return f"{label} (gates: {', '.join(VARIANTS[model].signals)})"
    return label


#: What the model menu shows for each model name of :func:`gru_lib.count_params`: its label,
#: and for a GRU variant the signals that drive its gates.
#:
#: :meta hide-value:
MODEL_LABELS = {model: _menu_label(model) for model in MODELS}

#: Limits of the number fields (BigInt arithmetic in the page keeps counts exact).
MAX_SIZE = 1_000_000
MAX_LAYERS = 1000


def _check(model: str, convention: str) -> dict[str, bool]:
    """Validate a model and a convention; return the keyword of ``count_params`` for them."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    return convention_kwargs(model, convention)


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

    >>> # Keras GRU(32) on 32 features:
    >>> explorer_count("gru0", 32, 32, "reset_after")
    6336
    """
    return count_params(
        model, n, m, num_layers=num_layers, bidirectional=bidirectional, **convention_kwargs(model, convention)
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
            kw = convention_kwargs(model, conv)

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


# --------------------------------------------------------------------------- the static form


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    """A file of ``gru_lib/static`` (the page's script and style), as text."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8").strip()


def explorer_core_js() -> str:
    """The explorer's JavaScript, ``gru_lib/static/explorer.js``: declarations only.

    ``gruLibCount(table, model, convention, n, m, layers, bidirectional)`` returns a
    count as a ``BigInt`` (``table`` is :func:`formula_table`), ``gruLibGroup`` groups
    its digits, and ``gruLibExplorer(root)`` binds one fragment's controls. The same
    text is embedded verbatim in :func:`explorer_html`; the tests run it with Node.js.
    """
    return _asset("explorer.js")


def _json_island(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``."""
    return json.dumps(data, sort_keys=True, ensure_ascii=True).replace("</", "<\\/")


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
    _check(model, convention)
    n0, m0, l0 = (int(v) for v in (n, m, num_layers))
    initial = explorer_count(model, n0, m0, convention, l0, bidirectional)
    table_json = _json_island(_table())
    state = f"{model}|{n0}|{m0}|{convention}|{l0}|{bool(bidirectional)}"
    root_id = "gru-pc-" + hashlib.sha1((state + table_json).encode()).hexdigest()[:10]
    k = _table()[model][convention]
    ids = {name: f"{root_id}-{name}" for name in ("model", "conv", "n", "m", "layers", "bidir")}
    return f"""<div class="gru-pc" id="{root_id}">
<style>{_asset("explorer.css")}</style>
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
<script type="application/json">{table_json}</script>
<script>
{explorer_core_js()}
gruLibExplorer(document.getElementById({json.dumps(root_id)}));
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

        _check(model, convention)
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
        kw = convention_kwargs(model, conv)
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
