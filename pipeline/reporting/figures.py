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

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipeline.reporting.series import day_ticks, hour_ticks, line_and_marks
from pipeline.reporting.shapes import RESULT_LABELS, RESULTS

DIRECTION_COLOURS = {"INBOUND": "#1f77b4", "OUTBOUND": "#ff7f0e", "ALL": "#444444"}
RESULT_COLOURS = ["#2ca02c", "#bcbd22", "#9467bd", "#8c564b", "#d62728", "#7f7f7f"]
CONFIG = {"displaylogo": False, "responsive": True}
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class Embedder:
    """HTML for figures; the first carries plotly.js (inlined, ~4.8 MB), later ones reuse it."""

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


def _layout(fig: go.Figure, title: str, height: int = 420, bottom: int = 130) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        template="plotly_white",
        separators=".,",  # decimal point, thousands comma: 11,190
        # Legend at the bottom of the whole figure, below the axis titles.
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        margin={"l": 70, "r": 40, "t": 80, "b": bottom},
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


#: Legend entry that explains the hollow markers.
MARKED_LABEL = "hollow: partial day or fewer than 20 calls (hover for why)"


def _marked_legend(fig: go.Figure) -> None:
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            name=MARKED_LABEL,
            mode="markers",
            marker={"symbol": "circle-open", "size": 10, "color": "#555555", "line": {"width": 2}},
            hoverinfo="skip",
        )
    )


def _rate_traces(
    fig: go.Figure,
    part: pl.DataFrame,
    name: str,
    label: str,
    colour: str,
    fmt: str,
    showlegend: bool = True,
    **where: int,
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
            legendgroup=label.split()[0],
            showlegend=showlegend,
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
                legendgroup=label.split()[0],
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
    fig.update_layout(barmode="stack", legend_traceorder="normal")
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
        _rate_traces(fig, part, "asr", f"{label} ASR", colour, ".1%", row=1, col=1)
        _rate_traces(fig, part, "ner", f"{label} NER", colour, ".1%", False, row=1, col=2)
    _marked_legend(fig)
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
            fig,
            part,
            "tta_median_s",
            f"{label} time to answer",
            colour,
            ",.1f",
            False,
            row=1,
            col=2,
        )
    _marked_legend(fig)
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
    fig.update_yaxes(
        title_text="ASR",
        tickformat=".0%",
        range=[0, 1.05],
        tickmode="linear",
        tick0=0,
        dtick=0.25,
        showgrid=False,
        secondary_y=True,
    )
    _marked_legend(fig)
    return _layout(fig, f"Last 48 hours, hourly ({tz}; hollow ASR = fewer than 20 attempts)")


def concurrency_figure(
    conc: pl.DataFrame, tz: str, order: list[str] | None = None, max_trunks: int = 8
) -> go.Figure:
    """Per trunk (one row each): hourly peak calls vs Erlang B channels; peak CPS vs limit.

    Args:
        conc: output of :func:`pipeline.reporting.shapes.concurrency`.
        tz: report time zone (axis title).
        order: trunks in the order to draw them (e.g. busiest first); None = by name.
        max_trunks: at most this many trunks (rows), the first of ``order``.
    """
    names = order or sorted(conc["trunk"].drop_nulls().unique().to_list())
    trunks = names[:max_trunks] or ["–"]
    titles = [
        f"{t} — {what}" for t in trunks for what in ("simultaneous calls", "calls per second")
    ]
    fig = make_subplots(
        rows=len(trunks),
        cols=2,
        shared_xaxes=True,
        column_widths=[0.6, 0.4],
        horizontal_spacing=0.07,
        vertical_spacing=min(0.08, 0.5 / len(trunks)),
        subplot_titles=titles,
    )
    styles = {
        "peak_calls": ("Peak simultaneous calls per hour", "#1f77b4", "solid", 1, "%{y:,} calls"),
        "channels": ("Erlang B channels at 1 % (day's busiest hour)", "#d62728", "dash", 1,
                     "%{y} channels"),
        "peak_cps": ("Peak calls per second per hour", "#9467bd", "solid", 2, "%{y} calls/s"),
        "cps_limit": ("CPS limit (callsPerSecond)", "#222222", "dot", 2, "limit %{y} calls/s"),
    }  # fmt: skip
    for row, trunk in enumerate(trunks, start=1):
        part = conc.filter(pl.col("trunk") == trunk)
        x = [t.isoformat() for t in part["local_start"].to_list()]
        limit = part["cps_limit"].max() if part.height else None
        series = {
            "peak_calls": part["peak_calls"].to_list(),
            "channels": part["channels"].to_list(),
            "peak_cps": part["peak_cps"].to_list(),
            "cps_limit": [limit] * len(x) if limit is not None else [],
        }
        for key, (label, colour, dash, col, hover) in styles.items():
            if not series[key]:
                continue
            fig.add_scatter(
                x=x,
                y=series[key],
                name=label,
                legendgroup=key,
                showlegend=row == 1,
                mode="lines",
                connectgaps=False,
                line={"color": colour, "dash": dash, "width": 2 if dash != "solid" else 1.5},
                line_shape="hv" if key == "channels" else "linear",
                hovertemplate=f"{trunk}: {hover}<extra></extra>",
                row=row,
                col=col,
            )
        fig.update_yaxes(tickformat=",d", rangemode="tozero", row=row, col=1)
        fig.update_yaxes(rangemode="tozero", row=row, col=2)
    values, labels = day_ticks(conc["local_date"].drop_nulls().unique().sort().to_list(), 8)
    fig.update_xaxes(type="date", tickmode="array", tickvals=values, ticktext=labels)
    fig.update_xaxes(title_text=f"Local time ({tz})", row=len(trunks))
    fig.update_layout(hovermode="closest")
    fig.update_annotations(font_size=12)
    return _layout(
        fig,
        f"Concurrency and calls per second per trunk vs recommended channels and limit ({tz})",
        height=190 * len(trunks) + 230,
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
    return _layout(
        fig, f"Traffic by weekday and hour: mean calls per hour ({tz})", height=340, bottom=70
    )


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
    return _layout(fig, "Top destination countries: outbound calls", height=400, bottom=70)


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
