"""Figures the chapters draw: gradient norms through time, gate activations, state traces.

Every helper takes plain arrays (``torch.Tensor`` or anything ``numpy.asarray``
accepts), draws with matplotlib and returns the ``matplotlib.figure.Figure``. Helpers
that draw a single panel accept ``ax=`` so that a chapter can place several of them
in one figure. matplotlib is needed (the ``book`` extra) and imported only inside
the functions, so ``import gru_lib`` never requires it.

* :func:`plot_gradient_norms` — ``‖∂L/∂x_t‖`` (or any positive series) against the
  time step, on a logarithmic axis: how far back a gradient reaches.
* :func:`plot_gates` — the gates of one sequence as heatmaps (units × time), with the
  input image beside them.
* :func:`plot_gate_grid` — the same for several models, one row per model.
* :func:`plot_traces` — a few units' values over time, e.g. a state trajectory.

One style for every figure of the book: :data:`BOOK_STYLE`, set by :func:`use_book_style`
(each chapter calls it once). A figure as wide as the page's column (:data:`COLUMN_WIDTH`
inches at the inline backend's 100 dpi) is shown at its own size, so its smallest text
(10 pt, about 14 px) is no smaller than the page's small print; wider figures are shrunk
and should be avoided. A panel with more than four lines gets its legend outside the
axes, below them (:func:`legend`); a reference line's note is placed clear of the data
(:func:`reference_line`). In a notebook the figures are PNGs of twice their pixels, shown at their
own size (:func:`figure_png`), so that thin strokes keep their weight.
"""

from __future__ import annotations

import statistics
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .tasks import MODEL_ORDER as _MODEL_ORDER
from .tasks import model_label as _label

__all__ = ["BOOK_STYLE", "COLUMN_WIDTH", "PIXEL_RATIO", "figure_png", "legend", "plot_curves", "plot_curves_by_rate",
           "plot_gradient_norms", "plot_gates", "plot_gate_grid", "plot_traces", "reference_line", "unit_order",
           "use_book_style"]

#: The width of the book's text column in inches at 100 dpi (the column is about 780 px wide on a desktop).
COLUMN_WIDTH = 7.8

#: The book's plotting style, as matplotlib rcParams. Its text is no smaller than the page's small
#: print at the column's width; grids are light; no top and right spines; no ×10ⁿ factor on an axis.
#:
#: :meta hide-value:
BOOK_STYLE: dict[str, Any] = {
    "figure.figsize": (COLUMN_WIDTH, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.formatter.useoffset": False,
    "axes.formatter.limits": (-4, 9),
}

#: At most this many lines share a legend inside a panel; more go below it.
LEGEND_INSIDE = 4


def use_book_style() -> None:
    """Set :data:`BOOK_STYLE` for the figures drawn from now on (in the notebook's kernel).

    In an IPython kernel the figures are also shown as PNGs of :data:`PIXEL_RATIO` times their
    pixels, at their own size (:func:`figure_png`).
    """
    import matplotlib

    matplotlib.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    if "inline" in matplotlib.get_backend():
        # the inline backend chooses its figure formats when it is first loaded; load it now,
        # so that it does not replace ours afterwards
        import matplotlib_inline.backend_inline  # noqa: F401
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


#: Figures are rendered with this many pixels per pixel on the page. At one, the thin strokes
#: of "=" and "+" fall between two pixel rows and both are drawn dark, so that these signs look
#: bold next to the letters; twice the pixels, shown at the figure's size, draw every stroke
#: in its weight, and stay sharp on high-resolution screens.
PIXEL_RATIO = 2


def figure_png(fig) -> Optional[tuple[str, dict]]:
    """``fig`` as a base64 PNG of :data:`PIXEL_RATIO` × its pixels, and the width to show it at.

    The display metadata give the width only: the page scales the height with it, so that a
    column narrower than the figure shrinks it without distorting it. ``None`` for a figure with
    nothing drawn (the inline backend's rule).
    """
    import base64
    import io

    if not fig.axes and not fig.lines:
        return None
    buf = io.BytesIO()
    fig.canvas.print_figure(buf, format="png", dpi=PIXEL_RATIO * fig.dpi, bbox_inches="tight",
                            facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    data = buf.getvalue()
    width = int.from_bytes(data[16:20], "big")  # the PNG's IHDR chunk: width, then height
    return base64.b64encode(data).decode("ascii"), {"width": width // PIXEL_RATIO}


def legend(ax, handles: Optional[list] = None, labels: Optional[list] = None, *, outside: Optional[bool] = None,
           **kw):
    """A panel's legend: inside the axes for up to four entries (``LEGEND_INSIDE``), else below them in columns.

    ``outside=True`` puts even a short legend below the axes, where it cannot cover the data;
    ``outside=False`` keeps a long one inside.
    """
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    if not (len(handles) > LEGEND_INSIDE if outside is None else outside):
        return ax.legend(handles, labels, **kw)
    ncol = kw.pop("ncol", 2)
    kw.pop("loc", None)
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, **kw)


def reference_line(ax, level: float, note: str, *, side: str = "above", color: str = "0.5", **text_kw):
    """A dotted horizontal line at ``level`` (a chance level, say) with ``note`` beside it, clear of the data.

    The note goes at the right end, ``side="above"`` everything drawn so far (lines and bands)
    or ``"below"`` it, and the y-limits widen to make room: a note never sits on a curve.
    Returns the note's ``Text``.
    """
    if side not in ("above", "below"):
        raise ValueError(f"side must be 'above' or 'below', got {side!r}")
    if isinstance(level, bool) or not (isinstance(level, (int, float)) and np.isfinite(level)):
        raise ValueError(f"level must be a finite number, got {level!r}")
    if ax.get_yscale() != "linear":
        raise ValueError(f"reference_line places its note on a linear y-axis, not a {ax.get_yscale()} one")
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    ys += [c.get_datalim(ax.transData).intervaly for c in ax.collections if len(c.get_paths())]
    values = np.concatenate([y.ravel() for y in ys] + [np.array([level], dtype=float)])
    values = values[np.isfinite(values)]
    edge = values.max() if side == "above" else values.min()
    ax.axhline(level, color=color, ls=":", lw=1)
    lo, hi = ax.get_ylim()
    room = 0.09 * (hi - lo)  # a line of 10-pt text on a panel about 3 inches tall
    if side == "above" and edge + room > hi:
        ax.set_ylim(lo, edge + room)
    elif side == "below" and edge - room < lo:
        ax.set_ylim(edge - room, hi)
    return ax.annotate(note, (1, edge), xycoords=("axes fraction", "data"), xytext=(-2, 2 if side == "above" else -2),
                       textcoords="offset points", ha="right", va="bottom" if side == "above" else "top",
                       color="0.35", **text_kw)


#: The colour bar of the gate heat maps: what a colour means.
COLORBAR_LABEL = "gate value"

#: What the gate letters stand for in titles.
GATE_NAMES = {"z": "update gate $z_t$", "r": "reset gate $r_t$", "h_tilde": r"candidate $\tilde h_t$"}


def _array(a: Any, name: str, ndim: Optional[int] = None) -> np.ndarray:
    """``a`` as a float numpy array (detached, on the CPU), optionally of ``ndim`` dimensions."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    out = np.asarray(a, dtype=float)
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {out.shape}")
    return out


def _figure_and_ax(ax, figsize: tuple[float, float]):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _plot_series(ax, series: Mapping[str, Any], name: str, styles, transform=None) -> None:
    """One line per entry of ``series`` (``{label: 1-D array}``) against ``t = 1 … T``."""
    styles = styles or {}
    for label, values in series.items():
        y = _array(values, f"{name}[{label!r}]", ndim=1)
        if transform is not None:
            y = transform(label, y)
        ax.plot(np.arange(1, y.shape[0] + 1), y, label=str(label), **dict(styles.get(label, {})))


def _finish_axes(ax, xlabel: str, ylabel: str, title: Optional[str], **grid) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3, **grid)
    legend(ax)


def plot_gradient_norms(
    norms: Mapping[str, Any],
    *,
    ax=None,
    title: Optional[str] = None,
    relative: bool = False,
    xlabel: str = "time step $t$",
    ylabel: Optional[str] = None,
    styles: Optional[Mapping[str, Mapping[str, Any]]] = None,
):
    """Plot gradient norms against the time step on a logarithmic y-axis.

    Parameters
    ----------
    norms:
        ``{label: values}``, each a 1-D series of length ``T`` whose entry ``t - 1``
        is the norm at step ``t`` (e.g. ``‖∂L/∂x_t‖`` averaged over a batch).
    ax:
        Draw into this Axes; a new figure otherwise.
    title:
        The panel's title.
    relative:
        Divide each series by its last value, so that every curve ends at 1 and the
        slopes (decay per step) can be compared directly.
    xlabel:
        The x axis's label.
    ylabel:
        The y axis's label; by default a description of what is plotted.
    styles:
        ``{label: matplotlib line keywords}`` for some of the series (colour, dashes, …).

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the Axes. Zeros (gradients that underflowed) are not drawn.
    """
    if not norms:
        raise ValueError("norms is empty: nothing to plot")
    fig, ax = _figure_and_ax(ax, (6.4, 4.0))

    def prepare(label, y):
        if relative:
            if y[-1] <= 0:
                raise ValueError(f"norms[{label!r}] ends at {y[-1]}; cannot normalise by it")
            y = y / y[-1]
        return np.where(y > 0, y, np.nan)  # a log axis cannot show 0

    _plot_series(ax, norms, "norms", styles, prepare)
    ax.set_yscale("log")
    if ylabel is None:
        ylabel = r"$\|\partial L/\partial x_t\|$" + (" / its value at $t = T$" if relative else "")
    _finish_axes(ax, xlabel, ylabel, title, which="major")
    return fig


def unit_order(values: Any, by: str = "mean") -> np.ndarray:
    """An ordering of the units of a ``(T, n)`` array, for heatmaps that read easily.

    ``by="mean"`` sorts the units by their mean over time (ascending); ``by="none"``
    keeps them as they are.
    """
    a = _array(values, "values", ndim=2)
    if by == "none":
        return np.arange(a.shape[1])
    if by == "mean":
        return np.argsort(a.mean(axis=0), kind="stable")
    raise ValueError(f"by must be 'mean' or 'none', got {by!r}")


def _draw_image(ax, image: Any, image_title: Optional[str]) -> None:
    img = _array(image, "image", ndim=2)
    ax.imshow(img, cmap="gray_r")
    ax.set_axis_off()  # a picture, not a plot: no frame, no ticks, no grid
    if image_title is not None:
        ax.set_title(image_title)


def _draw_gate(ax, values: np.ndarray, order: np.ndarray, title: str, vmin: float, vmax: float, cmap: str):
    """Draw ``values`` (T, n) as units × time, units in ``order``; return the image."""
    T, n = values.shape
    im = ax.imshow(
        values[:, order].T, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
        extent=(0.5, T + 0.5, n - 0.5, -0.5),
    )
    ax.grid(False)  # the book style's grid lines would be drawn over the cells
    ax.set_title(title)
    return im


def plot_gates(
    gates: Mapping[str, Any],
    *,
    image: Any = None,
    keys: Sequence[str] = ("z", "r"),
    order: Any = "mean",
    title: Optional[str] = None,
    image_title: Optional[str] = "input",
    cmap: str = "viridis",
    vmin: float = 0.0,
    vmax: float = 1.0,
    axes: Optional[Sequence[Any]] = None,
    colorbar: bool = True,
):
    """Heatmaps of gate activations over one sequence: one panel per gate, units × time.

    Parameters
    ----------
    gates:
        ``{"z": array, "r": array, …}``, each of shape ``(T, n)`` (time steps ×
        units), as collected by stepping a :class:`gru_lib.GRUCell` through a sequence
        with ``return_gates=True`` and stacking the steps.
    image:
        Optional 2-D array drawn in grey to the left of the gates (e.g. the MNIST digit
        whose rows were the input sequence).
    keys:
        Which entries of ``gates`` to draw, in order.
    order:
        How to order the units on the vertical axis: ``"mean"`` (by the mean of the
        first key over time, see :func:`unit_order`), ``"none"``, or an explicit
        sequence of unit indices used for every panel.
    title:
        A title over the whole figure (only when the figure is created here).
    image_title:
        The image panel's title.
    cmap:
        The colour map.
    vmin:
        The value drawn in the colour map's first colour (gates lie in ``[0, 1]``).
    vmax:
        The value drawn in its last colour.
    axes:
        Draw into these Axes: ``len(keys)`` of them, plus one first for the image when
        ``image`` is given. A new figure otherwise.
    colorbar:
        Add one colour bar for all gate panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not keys:
        raise ValueError("keys is empty: nothing to plot")
    missing = [k for k in keys if k not in gates]
    if missing:
        raise KeyError(f"gates has no {missing}; it has {sorted(gates)}")
    arrays = {k: _array(gates[k], f"gates[{k!r}]", ndim=2) for k in keys}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"all gates must have the same shape (T, n), got {sorted(shapes)}")
    if isinstance(order, str):
        idx = unit_order(arrays[keys[0]], by=order)
    else:
        idx = np.asarray(order, dtype=int)
    n_panels = len(keys) + (image is not None)
    if axes is None:
        widths = ([0.8] if image is not None else []) + [1.6] * len(keys)
        fig, axes = plt.subplots(1, n_panels, figsize=(1.9 + 3.4 * len(keys), 3.2), width_ratios=widths,
                                 constrained_layout=True)
        axes = np.atleast_1d(axes)
        if title is not None:
            fig.suptitle(title)
    else:
        axes = list(axes)
        if len(axes) != n_panels:
            raise ValueError(f"need {n_panels} axes (image first when given), got {len(axes)}")
        fig = axes[0].figure
    panels = list(axes)
    if image is not None:
        _draw_image(panels.pop(0), image, image_title)
    mappable = None
    for i, (ax, k) in enumerate(zip(panels, keys)):
        mappable = _draw_gate(ax, arrays[k], idx, GATE_NAMES.get(k, k), vmin, vmax, cmap)
        ax.set_xlabel("time step $t$")
        if i == 0:
            ax.set_ylabel("unit" + (" (sorted)" if not (isinstance(order, str) and order == "none") else ""))
    if colorbar and mappable is not None:
        fig.colorbar(mappable, ax=panels, shrink=0.9, label=COLORBAR_LABEL)
    return fig


def plot_gate_grid(
    rows: Mapping[str, Mapping[str, Any]],
    *,
    image: Any = None,
    keys: Sequence[str] = ("z", "r"),
    order: str = "mean",
    title: Optional[str] = None,
    image_title: Optional[str] = "input",
    cmap: str = "viridis",
):
    """Gate heatmaps of several models over the same input, one row per model.

    ``rows`` is ``{row label: gates}`` with ``gates`` as in :func:`plot_gates`. The
    image (if any) is drawn once, in the first column of the first row; the row
    labels go on the left. Returns the ``matplotlib.figure.Figure``.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    n_rows = len(rows)
    n_cols = len(keys) + (image is not None)
    widths = ([0.8] if image is not None else []) + [1.6] * len(keys)
    # at the column's width, so that the text keeps the book's size (BOOK_STYLE), with room
    # between a panel's title and the tick labels of the panel above
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(COLUMN_WIDTH, 2.5 * n_rows + 0.4),
                             width_ratios=widths, squeeze=False, constrained_layout=True)
    fig.get_layout_engine().set(h_pad=0.15)
    for r, (label, gates) in enumerate(rows.items()):
        row_axes = list(axes[r])
        if image is not None:
            img_ax = row_axes[0]
            if r == 0:
                _draw_image(img_ax, image, image_title)
            else:
                img_ax.axis("off")
        plot_gates(gates, image=None, keys=keys, order=order, cmap=cmap,
                   axes=row_axes[1:] if image is not None else row_axes, colorbar=False)
        first = row_axes[1] if image is not None else row_axes[0]
        first.set_ylabel(f"{label}\nunit" + (" (sorted)" if order != "none" else ""))
        if r < n_rows - 1:
            for ax in (row_axes[1:] if image is not None else row_axes):
                ax.set_xlabel("")
    mappable = axes[0][-1].images[0]
    fig.colorbar(mappable, ax=[a for row in axes for a in row[(image is not None):]], shrink=0.6, label=COLORBAR_LABEL)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_traces(
    traces: Mapping[str, Any],
    *,
    ax=None,
    title: Optional[str] = None,
    xlabel: str = "time step $t$",
    ylabel: str = "value",
    styles: Optional[Mapping[str, Mapping[str, Any]]] = None,
    symlog: bool = False,
):
    """Lines over time, one per entry of ``traces`` (``{label: 1-D array}``); returns the Figure.

    ``symlog=True`` uses a symmetric logarithmic y-axis, for series that grow by
    orders of magnitude while changing sign.
    """
    if not traces:
        raise ValueError("traces is empty: nothing to plot")
    fig, ax = _figure_and_ax(ax, (6.4, 3.6))
    _plot_series(ax, traces, "traces", styles)
    if symlog:
        ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    _finish_axes(ax, xlabel, ylabel, title)
    return fig


# ----------------------------------------------------------------------------- learning curves
def plot_curves(
    results: Sequence[dict],
    *,
    metric: str = "acc",
    splits: Sequence[str] = ("train", "test"),
    ax=None,
    title: Optional[str] = None,
    group_seeds: bool = True,
):
    """Learning curves (accuracy in % or loss per epoch) of result dicts; returns the matplotlib Figure.

    One colour per (model, activation, η); solid lines for test, dashed for train.
    With ``group_seeds`` the runs that differ only in seed are drawn as their mean
    with a band from the lowest to the highest seed. matplotlib is needed (the
    ``book`` extra) and imported only here.
    """
    import matplotlib.pyplot as plt

    from .report import format_lr

    if metric not in ("acc", "loss"):
        raise ValueError(f"metric must be 'acc' or 'loss', got {metric!r}")
    for s in splits:
        if s not in ("train", "test"):
            raise ValueError(f"splits must be 'train' and/or 'test', got {s!r}")
    if ax is None:
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        c = r["config"]
        key = (c["task"], c["model"], c["activation"], c["lr"]) + (() if group_seeds else (c["seed"],))
        groups.setdefault(key, []).append(r)
    keys = sorted(groups, key=lambda k: (k[0], _MODEL_ORDER.get(k[1], 99), k[2], -k[3], k[4:]))
    tasks = {k[0] for k in keys}
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    scale = 100.0 if metric == "acc" else 1.0
    for i, key in enumerate(keys):
        runs = groups[key]
        label = f"{_label(key[1])} {key[2]} η = {format_lr(key[3])}" + (f" seed {key[4]}" if len(key) > 4 else "")
        if len(tasks) > 1:
            label = f"{key[0]} " + label
        color = colors[i % len(colors)]
        for split in splits:
            n_epochs = min(len(r["history"]) for r in runs)
            if n_epochs == 0:
                continue
            epochs = [runs[0]["history"][e]["epoch"] for e in range(n_epochs)]
            values = [[scale * (r["history"][e][f"{split}_{metric}"] if r["history"][e][f"{split}_{metric}"]
                                is not None else float("nan")) for r in runs] for e in range(n_epochs)]
            mean = [statistics.fmean(v) for v in values]
            style = "-" if split == "test" else "--"
            ax.plot(epochs, mean, style, color=color, marker="o" if n_epochs < 15 else None, markersize=3,
                    label=f"{label} ({split})")
            if len(runs) > 1:
                ax.fill_between(epochs, [min(v) for v in values], [max(v) for v in values], color=color,
                                alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)" if metric == "acc" else "loss")
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if keys:
        # a colour per run, and the split as the line's style: one legend entry each, not one per line
        from matplotlib.lines import Line2D

        handles, labels = ax.get_legend_handles_labels()
        runs = [(h, lab.rsplit(" (", 1)[0]) for h, lab in zip(handles, labels)]
        seen: dict[str, Any] = {}
        for h, lab in runs:
            seen.setdefault(lab, Line2D([], [], color=h.get_color(), lw=2))
        styles = [Line2D([], [], color="0.3", ls="-" if s == "test" else "--") for s in splits] if len(splits) > 1 else []
        legend(ax, list(seen.values()) + styles, list(seen) + [s for s in splits] * bool(styles))
    return fig


#: Markers that tell models apart where their curves coincide (open, so that they overlap legibly).
_CURVE_MARKERS = ("o", "x", "s", "^", "v", "D", "+", "*")


def plot_curves_by_rate(
    results: Sequence[dict],
    rates: Sequence[float],
    *,
    total_epochs: Optional[int] = None,
    chance: Optional[float] = None,
    title: Optional[str] = None,
):
    """Training and test accuracy per epoch, one panel per base rate and one colour per model,
    in the arrangement of the paper's Figure 1; returns the matplotlib Figure. Pass only the
    rates that have runs: a panel without data is not drawn as if it were a result.

    Dashed lines are the training accuracy (the running mean with dropout on), solid lines the
    test accuracy; each model's test line has its own marker, at epochs staggered between the
    models, so that curves lying on one another stay distinguishable. A run with fewer epochs
    than ``total_epochs`` is in progress: its last point is marked and labelled with the epoch
    it reached. ``chance`` (in %) draws the accuracy of a
    constant answer. The legend sits below the panels, outside them. Runs of several seeds of one
    model and rate are drawn as their mean (:func:`plot_curves`).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from .report import format_lr

    rates = list(rates)
    if not rates:
        raise ValueError("expected at least one rate")
    # at the column's width, so that the text keeps the book's size (BOOK_STYLE)
    fig, axes = plt.subplots(1, len(rates), figsize=(COLUMN_WIDTH, 3.9), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    models = sorted({r["config"]["model"] for r in results}, key=lambda m: (_MODEL_ORDER.get(m, 99), m))
    color = {m: colors[i % len(colors)] for i, m in enumerate(models)}
    # Curves of different models often lie on one another (GRU0 and GRU1 at a small rate):
    # each model's test curve carries its own marker at epochs staggered between models,
    # so that every model stays visible where the lines coincide.
    marker = {m: _CURVE_MARKERS[i % len(_CURVE_MARKERS)] for i, m in enumerate(models)}
    span = total_epochs or max((len(r["history"]) for r in results), default=1)
    step = max(1, span // 8)
    mark_at = {m: (i * step // max(1, len(models)), step) for i, m in enumerate(models)}
    for ax, lr in zip(axes[0], rates):
        here = [r for r in results if abs(r["config"]["lr"] - lr) <= 1e-9 * lr]
        running = []
        for m in models:
            runs = [r for r in here if r["config"]["model"] == m and r["history"]]
            if not runs:
                continue
            n = min(len(r["history"]) for r in runs)
            epochs = [runs[0]["history"][e]["epoch"] for e in range(n)]
            for split, style in (("train", "--"), ("test", "-")):
                mean = [100 * statistics.fmean(r["history"][e][f"{split}_acc"] for r in runs) for e in range(n)]
                marks = dict(marker=marker[m], markevery=mark_at[m], ms=5, mfc="none") if split == "test" else {}
                ax.plot(epochs, mean, style, color=color[m], lw=1.4, **marks)
                if split == "test" and total_epochs is not None and n < total_epochs:
                    ax.plot(epochs[-1:], mean[-1:], "o", color=color[m], ms=4)
                    running.append((m, n))
        for j, (m, n) in enumerate(reversed(running)):  # the epochs reached, in the panel's lower right corner
            ax.text(0.97, 0.05 + 0.09 * j, f"{_label(m)}: {n}/{total_epochs}", transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=10, color=color[m])
        if chance is not None:
            ax.axhline(chance, color="0.5", ls=":", lw=1)
        ax.set_title(f"η = {format_lr(lr)}")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if total_epochs is not None:
            ax.set_xlim(0, total_epochs + 1)
    axes[0][0].set_ylabel("accuracy (%)")
    handles = [Line2D([], [], color=color[m], lw=2, marker=marker[m], ms=5, mfc="none", label=_label(m))
               for m in models]
    handles += [Line2D([], [], color="0.3", ls="-", label="test"),
                Line2D([], [], color="0.3", ls="--", label="training (running, dropout on)")]
    if chance is not None:
        handles.append(Line2D([], [], color="0.5", ls=":", label=f"chance, {chance:g}%"))
    if total_epochs is not None and any(len(r["history"]) < total_epochs for r in results):
        handles.append(Line2D([], [], color="0.3", marker="o", ls="", ms=4, label="in progress: epochs done/total"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), frameon=False, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.075 * -(-len(handles) // 3), 1, 1))
    return fig
