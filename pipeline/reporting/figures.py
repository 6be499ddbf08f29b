"""Plotly figures of the report, drawn from the frames of :mod:`pipeline.reporting.shapes`.

Conventions of every chart: a null value breaks a line (``connectgaps`` off), a rate or
average that is marked (partial day, few calls: :func:`pipeline.reporting.series.ratio`) is a
hollow marker off the line with the reason in its hover text, partial days in bar charts are
hatched and pale, date axes label each date once (:func:`~pipeline.reporting.series.day_ticks`,
:func:`~pipeline.reporting.series.hour_ticks`), and numbers carry thousands separators.

:class:`Embedder` turns figures into HTML for the notebook: plotly.js is inlined once, in the
first figure, so the exported report is self-contained and works offline.
"""

from __future__ import annotations

from itertools import cycle

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipeline.reporting.series import day_ticks, hour_ticks, line_and_marks
from pipeline.reporting.shapes import RESULT_LABELS, RESULTS

DIRECTION_COLOURS = {"INBOUND": "#1f77b4", "OUTBOUND": "#ff7f0e", "ALL": "#444444"}
RESULT_COLOURS = ["#2ca02c", "#bcbd22", "#9467bd", "#8c564b", "#d62728", "#7f7f7f"]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
CONFIG = {"displaylogo": False, "responsive": True}
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class Embedder:
    """HTML for figures; the first carries plotly.js (inlined, ~4.6 MB), later ones reuse it."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: go.Figure) -> str:
        """The figure as an HTML ``<div>`` with its script; plotly.js inlined on first use."""
        self.count += 1
        return fig.to_html(
            full_html=False,
            include_plotlyjs=self.count == 1,
            config=CONFIG,
            div_id=f"report-figure-{self.count}",
        )


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        template="plotly_white",
        separators=".,",  # decimal point, thousands comma: 11,190
        legend={"orientation": "h", "y": -0.18},
        margin={"l": 60, "r": 30, "t": 70, "b": 90},
        hovermode="x unified",
    )
    return fig


def _day_axis(fig: go.Figure, frame: pl.DataFrame, tz: str, **where: int) -> None:
    values, labels = day_ticks(frame["local_date"].unique().sort().to_list())
    fig.update_xaxes(
        type="date",
        tickmode="array",
        tickvals=values,
        ticktext=labels,
        title_text=f"Local date ({tz})",
        **where,
    )


def _dates(frame: pl.DataFrame) -> list[str]:
    return [d.isoformat() for d in frame["local_date"].to_list()]


def _rate_traces(
    fig: go.Figure, part: pl.DataFrame, name: str, label: str, colour: str, fmt: str, **where: int
) -> None:
    """A line of the ok points (gaps and marked points break it) and hollow marked points."""
    line, marked = line_and_marks(part, name)
    x = (
        _dates(part)
        if "local_date" in part.columns and "local_start" not in part.columns
        else [t.isoformat() for t in part["local_start"].to_list()]
    )
    notes = part[f"{name}_note"].to_list()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=line,
            name=label,
            mode="lines+markers",
            connectgaps=False,
            legendgroup=label,
            line={"color": colour},
            hovertemplate=f"{label}: %{{y:{fmt}}}<extra></extra>",
        ),
        **where,
    )
    if any(v is not None for v in marked):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=marked,
                name=f"{label} (marked)",
                mode="markers",
                legendgroup=label,
                showlegend=False,
                customdata=notes,
                marker={"symbol": "circle-open", "size": 10, "color": colour, "line": {"width": 2}},
                hovertemplate=f"{label}: %{{y:{fmt}}} — %{{customdata}}<extra></extra>",
            ),
            **where,
        )


def results_figure(days: pl.DataFrame, tz: str) -> go.Figure:
    """Stacked bars of calls per local day by result; partial days hatched and pale."""
    fig = go.Figure()
    partial = days["partial"].to_list()
    notes = [
        f"partial day: {c} of {h} h" if p else "whole day"
        for p, c, h in zip(partial, days["covered_hours"], days["day_hours"], strict=True)
    ]
    for result, colour in zip(RESULTS, RESULT_COLOURS, strict=True):
        fig.add_bar(
            x=_dates(days),
            y=days[result].to_list(),
            name=RESULT_LABELS[result],
            marker={
                "color": colour,
                "opacity": [0.45 if p else 1 for p in partial],
                "pattern": {"shape": ["/" if p else "" for p in partial]},
            },
            customdata=notes,
            hovertemplate=f"{RESULT_LABELS[result]}: %{{y:,}} (%{{customdata}})<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    _day_axis(fig, days, tz)
    fig.update_yaxes(title_text="Calls (attempts)", tickformat=",d")
    return _layout(fig, f"Calls per day by result ({tz}; hatched = partial day)")


def rates_figure(kpis: pl.DataFrame, tz: str) -> go.Figure:
    """ASR and NER per local day and direction, side by side."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("ASR (answered ÷ attempts)", "NER proxy (not failed ÷ attempts)"),
    )
    for (direction,), part in kpis.group_by("direction", maintain_order=True):
        colour = DIRECTION_COLOURS.get(str(direction), "#7f7f7f")
        label = str(direction).capitalize()
        _rate_traces(fig, part, "asr", label, colour, ".1%", row=1, col=1)
        _rate_traces(fig, part, "ner", f"{label} NER", colour, ".1%", row=1, col=2)
    _day_axis(fig, kpis, tz, row=1, col=1)
    _day_axis(fig, kpis, tz, row=1, col=2)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="Share of attempts")
    return _layout(fig, f"Answer rate and network effectiveness per day ({tz})")


def durations_figure(kpis: pl.DataFrame, tz: str) -> go.Figure:
    """ACD and median time to answer per local day and direction, side by side."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "ACD: average conversation of answered calls (s)",
            "Time to answer: median answerTime − createTime (s)",
        ),
    )
    for (direction,), part in kpis.group_by("direction", maintain_order=True):
        colour = DIRECTION_COLOURS.get(str(direction), "#7f7f7f")
        label = str(direction).capitalize()
        _rate_traces(fig, part, "acd_s", f"{label} ACD", colour, ",.0f", row=1, col=1)
        _rate_traces(
            fig, part, "tta_median_s", f"{label} time to answer", colour, ",.1f", row=1, col=2
        )
    _day_axis(fig, kpis, tz, row=1, col=1)
    _day_axis(fig, kpis, tz, row=1, col=2)
    fig.update_yaxes(rangemode="tozero", title_text="Seconds (s)", tickformat=",d")
    return _layout(fig, f"Call duration and time to answer per day ({tz})")


def last_hours_figure(hours: pl.DataFrame, tz: str) -> go.Figure:
    """Calls per hour by direction (stacked bars) and ASR (line, right axis), last 48 h."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x_all = hours.filter(pl.col("direction") == "ALL")
    for (direction,), part in hours.filter(pl.col("direction") != "ALL").group_by(
        "direction", maintain_order=True
    ):
        fig.add_bar(
            x=[t.isoformat() for t in part["local_start"].to_list()],
            y=part["attempts"].to_list(),
            name=f"{str(direction).capitalize()} calls",
            marker_color=DIRECTION_COLOURS.get(str(direction), "#7f7f7f"),
            hovertemplate="%{y:,} calls<extra></extra>",
        )
    _rate_traces(fig, x_all, "asr", "ASR (all calls)", "#222222", ".1%", secondary_y=True)
    values, labels = hour_ticks(x_all["local_start"].to_list())
    fig.update_layout(barmode="stack")
    fig.update_xaxes(
        type="date",
        tickmode="array",
        tickvals=values,
        ticktext=labels,
        title_text=f"Local time ({tz}), start of the hour",
    )
    fig.update_yaxes(title_text="Calls per hour", tickformat=",d", secondary_y=False)
    fig.update_yaxes(title_text="ASR", tickformat=".0%", range=[0, 1.05], secondary_y=True)
    return _layout(fig, f"Last 48 hours, hourly ({tz}; hollow ASR = fewer than 20 attempts)")


def concurrency_figure(conc: pl.DataFrame, tz: str) -> go.Figure:
    """Per trunk: hourly peak concurrent calls vs Erlang B channels; peak CPS vs CPS limit."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=(
            "Peak simultaneous calls per hour (solid) vs Erlang B channels at 1 % (dashed)",
            "Peak calls per second per hour (solid) vs CPS limit (dotted)",
        ),
    )
    colours = cycle(PALETTE)
    for (trunk,), part in conc.group_by("trunk", maintain_order=True):
        colour = next(colours)
        x = [t.isoformat() for t in part["local_start"].to_list()]
        fig.add_scatter(
            x=x,
            y=part["peak_calls"].to_list(),
            name=str(trunk),
            legendgroup=str(trunk),
            line={"color": colour, "width": 1.5},
            connectgaps=False,
            hovertemplate=f"{trunk}: peak %{{y:,}} calls<extra></extra>",
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=x,
            y=part["channels"].to_list(),
            name=f"{trunk}: channels",
            legendgroup=str(trunk),
            showlegend=False,
            line_shape="hv",
            line={"color": colour, "dash": "dash", "width": 2},
            connectgaps=False,
            hovertemplate=f"{trunk}: %{{y}} channels (Erlang B, 1 %)<extra></extra>",
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=x,
            y=part["peak_cps"].to_list(),
            name=f"{trunk}: CPS",
            legendgroup=str(trunk),
            showlegend=False,
            connectgaps=False,
            line={"color": colour, "width": 1.5},
            hovertemplate=f"{trunk}: %{{y}} calls/s<extra></extra>",
            row=2,
            col=1,
        )
        limit = part["cps_limit"].max()
        if limit is not None:
            fig.add_scatter(
                x=[x[0], x[-1]],
                y=[limit, limit],
                name=f"{trunk}: CPS limit",
                legendgroup=str(trunk),
                showlegend=False,
                mode="lines",
                line={"color": colour, "dash": "dot", "width": 2},
                hovertemplate=f"{trunk}: limit %{{y}} calls/s<extra></extra>",
                row=2,
                col=1,
            )
    values, labels = day_ticks(conc["local_date"].drop_nulls().unique().sort().to_list())
    fig.update_xaxes(type="date", tickmode="array", tickvals=values, ticktext=labels)
    fig.update_xaxes(title_text=f"Local time ({tz})", row=2, col=1)
    fig.update_yaxes(
        title_text="Simultaneous calls", tickformat=",d", rangemode="tozero", row=1, col=1
    )
    fig.update_yaxes(title_text="Calls per second", rangemode="tozero", row=2, col=1)
    fig.update_layout(hovermode="closest")
    return _layout(
        fig, f"Concurrency and CPS per trunk vs recommended channels and limit ({tz})", height=640
    )


def heatmap_figure(cells: pl.DataFrame, tz: str) -> go.Figure:
    """Mean calls per covered hour by local weekday (rows) and hour of day (columns)."""
    grid: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    for isodow, hour, mean, _ in cells.iter_rows():
        grid[isodow - 1][hour] = mean
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=[f"{h:02d}:00" for h in range(24)],
            y=_WEEKDAYS,
            colorscale="Viridis",
            colorbar={"title": {"text": "calls / hour"}},
            hovertemplate="%{y} %{x}: %{z:,.1f} calls per hour<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="Local weekday")
    fig.update_xaxes(title_text=f"Local hour of day ({tz}), start of the hour")
    fig.update_layout(hovermode="closest")
    return _layout(fig, f"Traffic by weekday and hour: mean calls per hour ({tz})", height=380)


def countries_figure(top: pl.DataFrame) -> go.Figure:
    """Horizontal bars of outbound calls per destination country (most first, at the top)."""
    frame = top.reverse()
    custom = list(
        zip(
            frame["asr"].to_list(),
            frame["minutes"].to_list(),
            frame["cost"].fill_null("no price").to_list(),
            strict=True,
        )
    )
    fig = go.Figure(
        go.Bar(
            x=frame["calls"].to_list(),
            y=frame["country"].to_list(),
            orientation="h",
            marker_color="#ff7f0e",
            customdata=custom,
            texttemplate="%{x:,}",
            textposition="outside",
            hovertemplate="%{y}: %{x:,} calls, ASR %{customdata[0]:.1%}, "
            "%{customdata[1]:,.0f} min, cost %{customdata[2]}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="Outbound calls (attempts)", tickformat=",d")
    fig.update_yaxes(title_text="Destination country (ISO 3166)")
    fig.update_layout(hovermode="closest")
    return _layout(fig, "Top destination countries: outbound calls", height=420)


def cost_figure(cost: pl.DataFrame, tz: str) -> go.Figure:
    """Cost per local day and direction, one panel per currency (currencies never added)."""
    currencies = sorted(cost["currency"].unique().to_list()) or ["–"]
    fig = make_subplots(rows=1, cols=len(currencies), subplot_titles=currencies)
    for col, currency in enumerate(currencies, start=1):
        part = cost.filter(pl.col("currency") == currency)
        for (direction,), rows in part.group_by("direction", maintain_order=True):
            partial = rows["partial"].to_list()
            fig.add_bar(
                x=_dates(rows),
                y=rows["cost"].to_list(),
                name=f"{str(direction).capitalize()}",
                legendgroup=str(direction),
                showlegend=col == 1,
                marker={
                    "color": DIRECTION_COLOURS.get(str(direction), "#7f7f7f"),
                    "opacity": [0.45 if p else 1 for p in partial],
                    "pattern": {"shape": ["/" if p else "" for p in partial]},
                },
                hovertemplate=f"%{{y:,.2f}} {currency}<extra>{direction}</extra>",
                row=1,
                col=col,
            )
        fig.update_yaxes(title_text=f"Cost ({currency})", tickformat=",.2f", row=1, col=col)
        _day_axis(fig, part, tz, row=1, col=col)
    fig.update_layout(barmode="stack")
    return _layout(fig, f"Cost per day by currency and direction ({tz}; hatched = partial day)")
