"""Plots of the storage formula: adapter size against rank, and as a fraction of the full model.

Every function draws on an `ax` it is given (or a new one) and returns the Axes, so a notebook
composes figures; `draw_calculation` makes the calculator's own figure, redrawn on every change.
Sizes are bytes on log axes, labelled the way disks are sold (kB, MB, GB), because adapters and
models differ by factors of thousands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from adapterlab.files import human_size
from adapterlab.storage import Estimate, estimate, model_shapes

RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _axes(ax: Axes | None, title: str) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    ax.set_title(title)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("LoRA rank r")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _bytes_axis(ax: Axes) -> None:
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human_size(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_size_vs_rank(setups: Mapping[str, tuple[str, Sequence[str]]], dtype: str = "float16",
                      ranks: Sequence[int] = RANKS, full_model: bool = True, ax: Axes | None = None) -> Axes:
    """Draws adapter bytes against rank for each setup, with the full checkpoint as a dashed line.

    Args:
        setups: {legend label: (model, target modules)}.
        dtype: the adapter's (and the full checkpoint's) dtype.
        ranks: the ranks to draw.
        full_model: also draw each model's full checkpoint size, dashed, in the same colour.
    """
    ax = _axes(ax, f"Adapter size against rank ({dtype})")
    for label, (model, targets) in setups.items():
        shapes = model_shapes(model)  # read once; estimate() accepts the shapes
        sizes = [estimate(shapes, targets, r, dtype).bytes for r in ranks]
        (line,) = ax.plot(ranks, sizes, marker="o", markersize=3, label=label)
        if full_model:
            ax.axhline(estimate(shapes, targets, 1, dtype).full_bytes, color=line.get_color(), ls="--", lw=1)
    _bytes_axis(ax)
    ax.set_ylabel("adapter tensors (dashed: full model)")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_fraction_vs_rank(setups: Mapping[str, tuple[str, Sequence[str]]], ranks: Sequence[int] = RANKS,
                          band: tuple[float, float] | None = None, band_label: str = "",
                          ax: Axes | None = None) -> Axes:
    """Draws adapter parameters as a percentage of the full model's against rank.

    Args:
        setups: {legend label: (model, target modules)}.
        band: an optional (low, high) range in percent to shade, e.g. a claim to test.
    """
    ax = _axes(ax, "Adapter as a fraction of the full model")
    for label, (model, targets) in setups.items():
        shapes = model_shapes(model)
        ax.plot(ranks, [100 * estimate(shapes, targets, r).fraction for r in ranks], marker="o", markersize=3,
                label=label)
    if band:
        ax.axhspan(*band, color="tab:red", alpha=0.12, label=band_label or f"{band[0]:g}–{band[1]:g}%")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.set_ylabel("adapter parameters / model parameters")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def mark_estimate(ax: Axes, est: Estimate, label: str, value: str = "bytes", color: str = "black",
                  offset: tuple[float, float] = (6, -12)) -> Axes:
    """Marks one estimate (at its rank) on a size plot (`value='bytes'`) or a fraction plot ('fraction').

    Args:
        offset: where the label goes, in points from the star.
    """
    y = est.bytes if value == "bytes" else 100 * est.fraction
    ax.scatter([est.r], [y], s=70, marker="*", color=color, zorder=5)
    ax.annotate(label, (est.r, y), xytext=offset, textcoords="offset points", fontsize=8, color=color)
    return ax


def draw_calculation(est: Estimate, targets: Sequence[str]) -> Figure:
    """Returns the calculator's figure: the size-against-rank curve of this setup, its full model, and `est` marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    ranks = sorted(set(RANKS) | {est.r})
    plot_size_vs_rank({f"{est.model}: {', '.join(targets)}": (model_shapes(est.model), targets)}, est.dtype, ranks,
                      ax=ax)
    mark_estimate(ax, est, f"r={est.r}: {human_size(est.bytes)}")
    return fig
