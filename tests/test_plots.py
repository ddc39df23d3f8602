"""The figure helpers of gru_lib.plots return figures with the expected axes and content."""

from __future__ import annotations

import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gru_lib import GRUCell  # noqa: E402
from gru_lib.plots import (  # noqa: E402
    plot_gate_grid,
    plot_gates,
    plot_gradient_norms,
    plot_traces,
    unit_order,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gates(T=7, n=5, seed=0):
    """Gates of a real cell stepped through a random sequence, as the chapters collect them."""
    torch.manual_seed(seed)
    cell = GRUCell(3, n)
    h, zs, rs = None, [], []
    for x_t in torch.randn(T, 3):
        h, g = cell(x_t, h, return_gates=True)
        zs.append(g["z"])
        rs.append(g["r"])
    return {"z": torch.stack(zs).detach(), "r": torch.stack(rs).detach()}


# ---------------------------------------------------------------- gradient norms


def test_gradient_norms_one_line_per_series_on_a_log_axis():
    norms = {"a": torch.logspace(-10, 0, 50), "b": np.linspace(1.0, 2.0, 50)}
    fig = plot_gradient_norms(norms, title="t")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    x, y = ax.get_lines()[0].get_data()
    assert list(x[:2]) == [1, 2] and len(x) == 50       # time steps start at 1
    assert ax.get_title() == "t"


def test_gradient_norms_relative_ends_at_one_and_hides_zeros():
    fig = plot_gradient_norms({"a": [0.0, 2.0, 4.0]}, relative=True)
    y = fig.axes[0].get_lines()[0].get_ydata()
    assert np.isnan(y[0]) and y[1] == pytest.approx(0.5) and y[2] == pytest.approx(1.0)


def test_gradient_norms_draws_into_given_axes_with_styles():
    fig, axes = plt.subplots(1, 2)
    out = plot_gradient_norms({"a": [1.0, 0.5]}, ax=axes[1], styles={"a": {"color": "red"}})
    assert out is fig
    assert len(axes[0].get_lines()) == 0 and len(axes[1].get_lines()) == 1
    assert axes[1].get_lines()[0].get_color() == "red"


def test_gradient_norms_rejects_bad_input():
    with pytest.raises(ValueError):
        plot_gradient_norms({})
    with pytest.raises(ValueError):
        plot_gradient_norms({"a": np.ones((2, 2))})
    with pytest.raises(ValueError):
        plot_gradient_norms({"a": [1.0, 0.0]}, relative=True)


# ---------------------------------------------------------------- gates


def test_unit_order():
    values = np.array([[0.9, 0.1, 0.5], [0.7, 0.3, 0.5]])
    assert list(unit_order(values)) == [1, 2, 0]
    assert list(unit_order(values, by="none")) == [0, 1, 2]
    with pytest.raises(ValueError):
        unit_order(values, by="max")


def test_plot_gates_with_image_has_image_and_one_panel_per_gate():
    gates = _gates(T=7, n=5)
    fig = plot_gates(gates, image=np.random.rand(28, 28), title="one digit")
    image_ax, z_ax, r_ax = fig.axes[:3]
    assert len(fig.axes) == 4                                  # + the colour bar
    assert image_ax.images[0].get_array().shape == (28, 28)
    assert "z_t" in z_ax.get_title() and "r_t" in r_ax.get_title()
    # units x time, sorted by the mean of z over time
    order = unit_order(gates["z"])
    shown = np.asarray(z_ax.images[0].get_array())
    assert shown.shape == (5, 7)
    np.testing.assert_allclose(shown, gates["z"].numpy()[:, order].T, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(r_ax.images[0].get_array()),
                               gates["r"].numpy()[:, order].T, rtol=1e-6)
    assert z_ax.images[0].get_clim() == (0.0, 1.0)
    assert fig._suptitle.get_text() == "one digit"


def test_plot_gates_without_image_keys_and_order():
    gates = _gates(T=4, n=3)
    fig = plot_gates(gates, keys=("z",), order="none", colorbar=False)
    assert len(fig.axes) == 1
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), gates["z"].numpy().T,
                               rtol=1e-6)
    fig = plot_gates(gates, order=[2, 1, 0], colorbar=False)
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()),
                               gates["z"].numpy()[:, [2, 1, 0]].T, rtol=1e-6)


def test_plot_gates_into_given_axes_and_errors():
    gates = _gates()
    fig, axes = plt.subplots(1, 3)
    assert plot_gates(gates, image=np.zeros((4, 4)), axes=axes, colorbar=False) is fig
    with pytest.raises(ValueError):
        plot_gates(gates, axes=axes[:2], image=np.zeros((4, 4)))
    with pytest.raises(KeyError):
        plot_gates(gates, keys=("h_tilde",))
    with pytest.raises(ValueError):
        plot_gates({"z": np.zeros((3, 2)), "r": np.zeros((4, 2))})
    with pytest.raises(ValueError):
        plot_gates({"z": np.zeros(3)}, keys=("z",))
    with pytest.raises(ValueError):
        plot_gates(gates, keys=())


def test_plot_gate_grid_one_row_per_model():
    rows = {"GRU0": _gates(seed=0), "GRU3": _gates(seed=1)}
    fig = plot_gate_grid(rows, image=np.random.rand(28, 28), image_title="digit 7")
    image_axes = [ax for ax in fig.axes if ax.get_title() == "digit 7"]
    gate_axes = [ax for ax in fig.axes if "gate" in ax.get_title()]
    assert len(image_axes) == 1                  # the image is drawn once
    assert len(gate_axes) == 4                   # 2 models x (z, r)
    assert any("GRU0" in ax.get_ylabel() for ax in gate_axes)
    assert any("GRU3" in ax.get_ylabel() for ax in gate_axes)
    with pytest.raises(ValueError):
        plot_gate_grid({})


def test_plot_gate_grid_without_image():
    fig = plot_gate_grid({"a": _gates()}, keys=("z",))
    gate_axes = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(gate_axes) == 1


# ---------------------------------------------------------------- traces


def test_plot_traces():
    fig = plot_traces({"x": [1.0, -1.0, 1.0], "y": torch.tensor([0.0, 0.5, 1.0])}, ylabel="state")
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert labels == ["x", "y"]
    assert ax.get_ylabel() == "state"
    fig = plot_traces({"x": [1.0, -100.0]}, symlog=True)
    assert fig.axes[0].get_yscale() == "symlog"
    with pytest.raises(ValueError):
        plot_traces({})


def test_book_style_text_is_no_smaller_than_small_print():
    import matplotlib

    from gru_lib.plots import BOOK_STYLE, COLUMN_WIDTH, use_book_style

    with matplotlib.rc_context():
        use_book_style()
        sizes = [matplotlib.rcParams[k] for k in ("font.size", "xtick.labelsize", "ytick.labelsize", "legend.fontsize")]
        # 10 pt at 100 dpi is 13.9 px, shown 1:1 in a column COLUMN_WIDTH inches wide
        assert min(sizes) >= 10 and matplotlib.rcParams["figure.figsize"][0] <= COLUMN_WIDTH
        assert matplotlib.rcParams["axes.formatter.useoffset"] is False
    assert BOOK_STYLE["figure.dpi"] == 100


def test_legend_inside_for_few_lines_below_for_many():
    from gru_lib.plots import legend

    fig, (a, b) = plt.subplots(1, 2)
    for i in range(4):
        a.plot([0, 1], [i, i], label=f"line {i}")
    for i in range(6):
        b.plot([0, 1], [i, i], label=f"line {i}")
    inside, below = legend(a), legend(b)
    fig.canvas.draw()
    assert inside.get_window_extent().y0 >= a.get_window_extent().y0
    assert below.get_window_extent().y1 <= b.get_window_extent().y0  # under the axes, clear of the lines
    assert legend(fig.add_subplot(2, 2, 4)) is None
    plt.close(fig)


def _result(model, lr, split_acc):
    history = [{"epoch": e, "train_acc": split_acc, "test_acc": split_acc, "train_loss": 1.0, "test_loss": 1.0}
               for e in (1, 2, 3)]
    return {"config": {"task": "mnist-row", "model": model, "activation": "tanh", "lr": lr, "seed": 0},
            "history": history}


def test_curves_legend_has_one_entry_per_run_and_one_per_split():
    from gru_lib.plots import plot_curves

    runs = [_result(m, 1e-3, 0.5) for m in ("gru0", "gru1", "gru2", "gru3")]
    fig = plot_curves(runs)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(fig.axes[0].lines) == 8 and len(texts) == 6
    assert texts[-2:] == ["train", "test"] and all("(" not in t for t in texts)
    plt.close(fig)


def test_gate_colour_bars_say_what_a_colour_means():
    from gru_lib.plots import COLORBAR_LABEL

    gates = {"z": torch.rand(5, 3), "r": torch.rand(5, 3)}
    fig = plot_gates(gates)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"] == [COLORBAR_LABEL]
    plt.close(fig)
    fig = plot_gate_grid({"GRU0": gates, "GRU3": gates})
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"] == [COLORBAR_LABEL]
    plt.close(fig)


def test_figure_png_has_twice_the_pixels_and_the_figures_width_only():
    import base64
    import io

    from PIL import Image

    from gru_lib.plots import PIXEL_RATIO, figure_png

    fig, ax = plt.subplots(figsize=(4.0, 2.0), dpi=100)
    ax.plot([0, 1], [0, 1])
    ax.set_title("T = 100, forward + backward")
    data, meta = figure_png(fig)
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.format == "PNG" and list(meta) == ["width"]  # no height: a narrow column scales it
    assert image.width == PIXEL_RATIO * meta["width"]
    assert 300 <= meta["width"] <= 400  # 4 inches at 100 dpi, less the tight crop
    assert figure_png(plt.figure()) is None
    plt.close("all")


def test_legend_outside_on_request():
    from gru_lib.plots import legend

    fig, (a, b) = plt.subplots(1, 2)
    for ax in (a, b):
        for i in range(6):
            ax.plot([0, 1], [i, i], label=f"line {i}")
    out, inside = legend(a, outside=True), legend(b, outside=False)
    fig.canvas.draw()
    assert out.get_window_extent().y1 <= a.get_window_extent().y0
    assert inside.get_window_extent().y0 >= b.get_window_extent().y0
    plt.close(fig)


@pytest.mark.parametrize("side", ["above", "below"])
def test_reference_line_note_is_clear_of_lines_and_bands(side):
    from gru_lib.plots import reference_line

    fig, ax = plt.subplots(figsize=(4.0, 3.0))
    x = np.arange(1, 4)
    ax.plot(x, [2.29, 2.25, 2.2])
    ax.fill_between(x, [2.28, 2.2, 2.1], [2.32, 2.31, 2.3])  # a band that reaches past the level
    ax.plot(x, [2.0, 1.98, 1.95])
    note = reference_line(ax, 2.303, "uniform guess: ln 10", side=side)
    fig.canvas.draw()
    box = note.get_window_extent()
    to_data = ax.transData.inverted()
    lo, hi = sorted(to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])[:, 1])
    if side == "above":
        assert lo >= 2.32 - 1e-9 and hi <= ax.get_ylim()[1] + 1e-9
    else:
        assert hi <= 1.95 + 1e-9 and lo >= ax.get_ylim()[0] - 1e-9
    assert [line.get_linestyle() for line in ax.lines][-1] == ":"
    plt.close(fig)


def test_reference_line_refuses_bad_arguments():
    from gru_lib.plots import reference_line

    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="side"):
        reference_line(ax, 1.0, "x", side="left")
    with pytest.raises(ValueError, match="finite"):
        reference_line(ax, float("nan"), "x")
    ax.set_yscale("log")
    with pytest.raises(ValueError, match="linear"):
        reference_line(ax, 1.0, "x")
    plt.close(fig)


def test_curves_write_rates_as_powers_of_ten():
    from gru_lib.plots import plot_curves

    fig = plot_curves([_result("gru0", 1e-3, 0.5)], splits=("test",))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["GRU0 tanh η = 10⁻³"]
    plt.close(fig)


def test_curves_by_rate_keep_coinciding_models_apart():
    """Identical curves of four models: each test line has its own marker, at epochs of its own,
    so all four stay visible; the legend shows the same markers."""
    from gru_lib.plots import plot_curves_by_rate

    runs = [dict(_result(m, 1e-5, 0.84), history=[dict(_result(m, 1e-5, 0.84)["history"][0], epoch=e)
                                                 for e in range(1, 41)])
            for m in ("gru0", "gru1", "gru2", "gru3")]
    fig = plot_curves_by_rate(runs, [1e-5], total_epochs=40)
    test_lines = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert len(test_lines) == 4
    assert len({ln.get_marker() for ln in test_lines}) == 4
    marked = [frozenset(ln.get_xdata()[i] for i in range(ln.get_markevery()[0], 40, ln.get_markevery()[1]))
              for ln in test_lines]
    assert all(marked) and all(not (a & b) for i, a in enumerate(marked) for b in marked[i + 1:])
    legend_markers = {h.get_marker() for h in fig.legends[0].legend_handles if h.get_marker() not in (None, "None", "")}
    assert {ln.get_marker() for ln in test_lines} <= legend_markers
    plt.close(fig)


def test_gate_heat_maps_have_no_grid_and_the_image_no_frame():
    """Under the book style (a grid on every axes), gate heat maps draw no grid lines over their
    cells, and the input image is a picture without frame or ticks."""
    from gru_lib.plots import BOOK_STYLE, COLUMN_WIDTH

    gates = {"z": torch.rand(5, 3), "r": torch.rand(5, 3)}
    with plt.rc_context(BOOK_STYLE):
        fig = plot_gate_grid({"GRU0": gates, "GRU3": gates}, image=torch.rand(4, 4))
    heat = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>" and ax.axison]
    assert len(heat) == 4
    assert not any(line.get_visible() for ax in heat for line in ax.get_xgridlines() + ax.get_ygridlines())
    assert not fig.axes[0].axison
    assert fig.get_figwidth() == COLUMN_WIDTH
    plt.close(fig)
