"""Figure toolkit shared by the run and sweep pictures: figures on their own Agg canvas
(never pyplot, never ``matplotlib.use``), PNG bytes, tick labels that do not collide.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator

DPI = 110
#: characters per inch of a 9-point title (DejaVu Sans averages about 0.55 em a glyph)
CHARS_PER_INCH = 72 / (9 * 0.55)


class _Figure(Figure):
    """A figure that shows itself in a notebook as PNG: without pyplot, nothing else
    registers a display for it."""

    def _repr_png_(self) -> bytes:
        return png(self)


def new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout on its own Agg canvas (no pyplot)."""
    fig = _Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """PNG bytes of a figure :func:`finish` has laid out (its layout is kept, not redone)."""
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")  # the constrained layout is most of a draw's time
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        fig.set_layout_engine(engine)
    return buf.getvalue()


def _in_view(axis, label, box) -> bool:
    """Whether a tick label sits along the axes (labels of ticks out of view are not drawn)."""
    ab = axis.axes.get_window_extent()
    mid = (box.x0 + box.x1) / 2 if axis.axis_name == "x" else (box.y0 + box.y1) / 2
    lo, hi = (ab.x0, ab.x1) if axis.axis_name == "x" else (ab.y0, ab.y1)
    return label.get_visible() and bool(label.get_text()) and lo - 1 <= mid <= hi + 1


def finish(fig: Figure) -> Figure:
    """Lay the figure out once, then cut titles that overrun and thin crowded tick labels."""
    _short_log_axes(fig)
    _sparse_minor_ticks(fig)
    fig.draw_without_rendering()  # lays out and places every text; rasterizes nothing
    renderer = fig.canvas.get_renderer()
    _fit_titles(fig, renderer)
    _thin_tick_labels(fig, renderer)
    return fig


def _sparse_minor_ticks(fig: Figure) -> None:
    """Minor ticks of a log axis at 2 and 5 of each decade, not at 2 … 9, where the
    axis has matplotlib's own: laying out and drawing the ticks of a figure of log axes
    takes a third of its time, and a decade reads as well with two."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            loc = axis.get_minor_locator()
            subs = getattr(loc, "_subs", None)
            if axis.get_scale() == "log" and type(loc) is LogLocator and isinstance(subs, str):
                axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))


def _short_log_axes(fig: Figure) -> None:
    """Plain-number ticks on each log axis with matplotlib's own ticks whose view spans
    under three decades (:func:`plain_log_ticks`), where those label only one to three."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log" and type(axis.get_major_locator()) is LogLocator:
                plain_log_ticks(axis, axis.get_view_interval())


def _fit_titles(fig: Figure, renderer) -> None:
    """Shorten (with '…') each line of a title wider than its figure or axes."""
    texts = [(fig._suptitle, fig.bbox)] if fig._suptitle is not None else []
    texts += [(ax.title, ax.get_window_extent(renderer)) for ax in fig.axes]
    for text, box in texts:
        room = box.width if text is not fig._suptitle else fig.bbox.width - 4
        width = text.get_window_extent(renderer).width
        if not text.get_text() or width <= room:
            continue
        lines = text.get_text().split("\n")
        longest = max(range(len(lines)), key=lambda i: len(lines[i]))
        keep = int(len(lines[longest]) * room / width) - 1
        while keep > 1:
            lines[longest] = lines[longest][:keep].rstrip() + "…"
            text.set_text("\n".join(lines))
            if text.get_window_extent(renderer).width <= room:
                break
            keep -= 2


def _thin_tick_labels(fig: Figure, renderer, pad: float = 3.0) -> None:
    """Blank the tick labels that would overlap a neighbour; the tick marks stay.

    Per axis, major labels go first (the two ends, then from low to high values), then
    minor ones, each kept only if it stands ``pad`` pixels clear of every label kept.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            kept: list = []
            for minor in (False, True):
                locs = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
                labels = axis.get_ticklabels(minor=minor)
                if len(labels) != len(locs):
                    continue
                boxes = [lab.get_window_extent(renderer) for lab in labels]
                shown = [i for i, lab in enumerate(labels) if _in_view(axis, lab, boxes[i])]
                order = shown[:1] + shown[-1:] + shown[1:-1] if len(shown) > 1 else shown
                keep = set()
                for i in order:
                    if not any(boxes[i].padded(pad).overlaps(b) for b in kept):
                        keep.add(i)
                        kept.append(boxes[i])
                if len(keep) == len(shown):
                    continue
                lo, hi = sorted(axis.get_view_interval())
                pairs = [
                    (x, lab.get_text() if i in keep else "")
                    for i, (x, lab) in enumerate(zip(locs, labels, strict=True))
                    if lo <= x <= hi
                ]
                axis.set_ticks([x for x, _ in pairs], [t for _, t in pairs], minor=minor)


def log_ticks_at(axis, values, min_ratio: float = 1.0) -> None:
    """Ticks of a log axis at the given values, labelled as plain numbers, no minor ticks.

    A value within ``min_ratio`` of the tick before it gets none (parameter counts of
    7 beside 8 read as one number).
    """
    kept: list[float] = []
    for v in sorted({float(v) for v in values if v and v > 0}):
        if not kept or v >= min_ratio * kept[-1]:
            kept.append(v)
    values = kept
    axis.set_ticks(values, [f"{v:,.0f}" if v >= 1 else f"{v:g}" for v in values])
    axis.set_minor_locator(NullLocator())


def plain_log_ticks(axis, values) -> None:
    """A log axis over the values given, spanning under three decades: major ticks at
    1, 2, 5 (or, within one decade, 1, 1.5, 2, 3, 5, 7) of each decade, written as plain
    numbers; a span too narrow for three of those gets evenly spaced ones. Matplotlib's
    own give such an axis two or three ticks (10⁻¹, 10⁰), or one (2 × 10⁰)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size or v.max() >= 1000 * v.min():
        return
    lo, hi = float(v.min()), float(v.max())
    subs = (1.0, 2.0, 5.0) if hi >= 10 * lo else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    locator = LogLocator(base=10, subs=subs)
    ticks = locator.tick_values(lo, hi)
    if np.count_nonzero((ticks >= lo) & (ticks <= hi)) < 3:
        even = MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        locator = FixedLocator(even[even > 0])
    axis.set_major_locator(locator)
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_locator(NullLocator())


def clip_line(text: str, width_in: float) -> str:
    """Cut a title line to what fits in the figure's width."""
    n = int(width_in * CHARS_PER_INCH)
    return text if len(text) <= n else text[: n - 1] + "…"


def legend_below(fig: Figure, handles, labels, ncols: int | None = None) -> None:
    """A legend under the axes in ``ncols`` columns, or fewer where its labels would run
    past the figure's edges (a cut-off entry read 'training cost after it')."""
    if handles:
        ncols = min(ncols or 3, len(handles))
        while ncols > 1 and _legend_width(labels, ncols) > fig.get_figwidth() * 72:
            ncols -= 1
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=8)


def _legend_width(labels, ncols: int, size: float = 8.0) -> float:
    """A legend's width in points with matplotlib's default spacing (a 2-em swatch, 0.8 em
    to the text, 2 em between columns, 0.4 em of border and 0.5 em of padding a side)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure, prop = TextToPath(), FontProperties(size=size)
    widths = [  # a label's widest line (the measure draws a newline as a missing glyph)
        max(measure.get_text_width_height_descent(line, prop, ismath=False)[0] for line in lines)
        for lines in (str(t).split("\n") for t in labels)
    ]
    # entries fill the columns top to bottom
    rows = -(-len(labels) // ncols)
    cols = [max(widths[i : i + rows]) for i in range(0, len(widths), rows)]
    return sum(cols) + len(cols) * 2.8 * size + (len(cols) - 1) * 2.0 * size + 1.8 * size


def zero_floor(values) -> float:
    """Where an exactly-zero error is drawn on a log axis: the power of ten a decade or
    more under the least positive value (1e-16 when none is positive)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    return 10.0 ** (np.floor(np.log10(pos.min())) - 1) if pos.size else 1e-16
