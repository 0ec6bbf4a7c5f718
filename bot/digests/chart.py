"""A digest's chart: cloud spend and local share per tier over the period, as a PNG.

Drawn with matplotlib's Agg canvas on a private Figure (no pyplot state), so it is
safe to call from a worker thread; it is CPU work, so callers run it off the loop.
"""

from __future__ import annotations

import io
import math
from datetime import datetime

from bot.digests.compute import Digest


def render_chart(digest: Digest) -> bytes:
    """PNG bytes of two stacked panels sharing the period's time axis."""
    # Imported here: matplotlib takes about half a second to import, and only digests draw.
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    zone = digest.window.start.tzinfo
    series = digest.series
    # Each value is drawn at the middle of its bucket.
    middles = [
        datetime.fromtimestamp((a + b) / 2, zone)
        for a, b in zip(series.edges, series.edges[1:], strict=False)
    ]
    figure = Figure(figsize=(8, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    spend_ax, share_ax = figure.subplots(2, 1, sharex=True)
    for tier in digest.tiers:
        if tier in series.spend:
            spend_ax.plot(middles, series.spend[tier], marker="o", markersize=3, label=tier)
        if tier in series.local_share:
            shares = [math.nan if s is None else s * 100 for s in series.local_share[tier]]
            share_ax.plot(middles, shares, marker="o", markersize=3, label=tier)
    spend_ax.set_ylabel("cloud spend (USD)")
    spend_ax.set_ylim(bottom=0)
    share_ax.set_ylabel("local share (%)")
    share_ax.set_ylim(0, 105)
    for ax in (spend_ax, share_ax):
        ax.grid(alpha=0.3)
    if digest.tiers:
        spend_ax.legend(loc="best", fontsize="small", title="tier")
    locator = dates.AutoDateLocator(tz=zone)
    share_ax.xaxis.set_major_locator(locator)
    share_ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=zone))
    share_ax.set_xlim(
        datetime.fromtimestamp(series.edges[0], zone),
        datetime.fromtimestamp(series.edges[-1], zone),
    )
    figure.suptitle(f"Tutor usage: {digest.window.label}", fontsize="medium")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
