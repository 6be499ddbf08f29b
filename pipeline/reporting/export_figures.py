"""Plotly figures of "What the export adds": true NER vs proxy, failure causes, MOS per day.

Drawn from :mod:`pipeline.reporting.export_shapes` with the conventions of
:mod:`pipeline.reporting.figures` (gaps break lines, partial days and small denominators are
hollow markers, the same layout and date axes).
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipeline.reporting.figures import _day_axis, _layout, _marked_legend, _rate_traces

CLASS_COLOURS = {
    "user": "#bcbd22",
    "invalid": "#9467bd",
    "cps_refused": "#ff7f0e",
    "network": "#d62728",
    "unclassified": "#7f7f7f",
}
CLASS_LABELS = {
    "user": "user (busy, no answer, cancel, decline)",
    "invalid": "invalid number",
    "cps_refused": "refused over the CPS limit (603)",
    "network": "network",
    "unclassified": "unclassified (no code)",
}


def ner_figure(days: pl.DataFrame, tz: str) -> go.Figure:
    """True NER (export codes) and NER proxy (call list) per local day, one chart."""
    fig = go.Figure()
    _rate_traces(fig, days, "ner_true", "True NER (E.425, export)", "#2ca02c", ".1%")
    _rate_traces(fig, days, "ner_proxy", "NER proxy (not FAILED)", "#444444", ".1%")
    _marked_legend(fig)
    _day_axis(fig, days, tz)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="Effective share")
    return _layout(fig, f"True NER from the export vs NER proxy per day ({tz})")


def causes_figure(causes: pl.DataFrame) -> go.Figure:
    """The most frequent outcomes of unanswered calls, horizontal bars coloured by class."""
    fig = go.Figure()
    ordered = causes.reverse()  # the largest on top
    for (cls,), part in ordered.group_by("release_class", maintain_order=True):
        name = str(cls)
        fig.add_bar(
            x=part["calls"].to_list(),
            y=part["label"].to_list(),
            orientation="h",
            name=CLASS_LABELS.get(name, name),
            marker_color=CLASS_COLOURS.get(name, "#7f7f7f"),
            customdata=[f"{s:.1%}" for s in part["share"].fill_null(0).to_list()],
            hovertemplate="%{y}: %{x:,} calls (%{customdata} of failures)<extra></extra>",
        )
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_yaxes(categoryorder="array", categoryarray=ordered["label"].to_list())
    fig.update_xaxes(title_text="Calls (unanswered, with export details)", tickformat=",d")
    fig = _layout(fig, "Why calls fail: top SIP responses and Q.850 causes (export)", height=460)
    fig.update_layout(hovermode="closest")
    return fig


def mos_figure(days: pl.DataFrame, tz: str) -> go.Figure:
    """Mean MOS (left) and the share of scored calls with MOS < 3.5 (right) per local day."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Mean MOS of answered calls (1–5)", "Share with MOS < 3.5 (poor)"),
    )
    _rate_traces(fig, days, "mos_avg", "Mean MOS", "#1f77b4", ".2f", row=1, col=1)
    _rate_traces(fig, days, "poor_share", "Poor MOS share", "#d62728", ".1%", row=1, col=2)
    _marked_legend(fig)
    _day_axis(fig, days, tz, row=1, col=1)
    _day_axis(fig, days, tz, row=1, col=2)
    fig.update_yaxes(range=[1, 5], title_text="MOS (ITU-T P.800)", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="Share", row=1, col=2)
    return _layout(fig, f"Call quality per day: MOS from the export ({tz})")
