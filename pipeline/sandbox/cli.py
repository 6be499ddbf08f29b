"""``pipeline sandbox serve`` (mounted by the main CLI) and ``python -m pipeline.sandbox``."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

from pipeline.sandbox.server import run_sandbox
from pipeline.sandbox.settings import (
    EnvelopeFault,
    ExportFault,
    PageSizeKey,
    ResultWindowMode,
    SandboxSettings,
)

sandbox_app = typer.Typer(help="A local emulator of the Sinch Elastic SIP Trunk calls API.")


@sandbox_app.callback()
def _main() -> None:
    """Sandbox commands."""


def _utc_hour(text: str | None) -> datetime | None:
    """``2026-11-16T10`` (or any ISO instant; naive = UTC) as an aware datetime, or None."""
    if text is None:
        return None
    value = datetime.fromisoformat(text if len(text) > 13 else f"{text}:00")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@sandbox_app.command()
def serve(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port on 127.0.0.1 (0 = a free port)")
    ] = 8765,
    seed: Annotated[int, typer.Option(help="traffic seed")] = 20260101,
    replay: Annotated[
        Path | None, typer.Option(help="serve an export CSV or .jsonl instead of generated calls")
    ] = None,
    calls_per_hour: Annotated[
        float | None,
        typer.Option(help="weekday 10:00 calls of a weight-1 trunk (default: sized by erlangs)"),
    ] = None,
    variant_rate: Annotated[float, typer.Option(help="share of calls in a format variant")] = 0.05,
    token_lifetime: Annotated[float, typer.Option(help="OAuth token lifetime, seconds")] = 3600.0,
    rate_429: Annotated[float, typer.Option(help="fault: share of 429 responses")] = 0.0,
    rate_5xx: Annotated[float, typer.Option(help="fault: share of 5xx responses")] = 0.0,
    latency: Annotated[float, typer.Option(help="fault: added latency, seconds")] = 0.0,
    malformed_rate: Annotated[float, typer.Option(help="fault: share of malformed records")] = 0.0,
    duplicate_rate: Annotated[
        float, typer.Option(help="fault: share of pages repeating a record")
    ] = 0.0,
    list_in_progress: Annotated[bool, typer.Option(help="list calls before they end")] = False,
    busy_hour_calls: Annotated[
        int | None, typer.Option(help="every hour has exactly N calls (over all trunks)")
    ] = None,
    max_result_window: Annotated[
        int | None, typer.Option(help="hostile: never serve items at offsets >= N")
    ] = None,
    result_window_mode: Annotated[
        str, typer.Option(help="hostile: beyond the window, 'empty' pages or 'error' (400)")
    ] = "empty",
    unstable_order: Annotated[
        bool, typer.Option(help="hostile: same-second calls reordered on every request")
    ] = False,
    strict_lower_bound: Annotated[
        bool, typer.Option(help="hostile: createTime>=X applied as createTime>X")
    ] = False,
    page_size_key: Annotated[
        str, typer.Option(help="page size key honoured: size, pageSize or both")
    ] = "both",
    float_money: Annotated[
        bool, typer.Option(help="hostile: money amounts carry float noise")
    ] = False,
    envelope_fault: Annotated[
        str | None,
        typer.Option(help="hostile: no-calls, calls-null, calls-not-list or status-ok"),
    ] = None,
    envelope_fault_rate: Annotated[
        float, typer.Option(help="share of /calls answers with the envelope fault")
    ] = 1.0,
    trunks_envelope_fault: Annotated[
        bool, typer.Option(help="hostile: GET /trunks answers 200 {}")
    ] = False,
    total_items_cap: Annotated[
        int | None, typer.Option(help="hostile: totalItems reported as min(total, N)")
    ] = None,
    echo_authorization: Annotated[
        bool, typer.Option(help="hostile: error bodies echo the Authorization header")
    ] = False,
    gzip_bomb: Annotated[
        bool, typer.Option(help="hostile: /calls answers a ~1 MB gzip of 1 GiB")
    ] = False,
    gzip_bomb_rate: Annotated[
        float, typer.Option(help="share of /calls answers that are the gzip bomb")
    ] = 1.0,
    extreme_times: Annotated[
        bool, typer.Option(help="hostile: year-9999 createTime / endTime, two calls per hour")
    ] = False,
    duplicate_across_windows_rate: Annotated[
        float, typer.Option(help="hostile: share of calls listed again an hour later")
    ] = 0.0,
    export_fault: Annotated[
        str | None,
        typer.Option(
            help="hostile: the export is forbidden, not-found, endless, ignores-page, "
            "short-rows or renamed-header"
        ),
    ] = None,
    export_fault_rate: Annotated[
        float, typer.Option(help="share of export requests refused, or of rows cut short")
    ] = 1.0,
    header_drip: Annotated[
        float, typer.Option(help="hostile: seconds per byte of /calls and token headers")
    ] = 0.0,
    degraded_hour: Annotated[
        str | None,
        typer.Option(help="degrade the UTC hour, e.g. 2026-11-16T10: most calls FAILED"),
    ] = None,
    degraded_trunk: Annotated[
        str | None, typer.Option(help="the trunk id that degrades (default: every trunk)")
    ] = None,
    degraded_failed_share: Annotated[
        float, typer.Option(help="share of the degraded hour's calls that fail")
    ] = 0.9,
) -> None:
    """Serve on 127.0.0.1, print the base URL and credentials, stop cleanly on Ctrl-C."""
    console = Console()
    with contextlib.ExitStack() as stack:
        try:
            settings = SandboxSettings(
                port=port,
                seed=seed,
                replay_path=replay,
                calls_per_hour=calls_per_hour,
                variant_rate=variant_rate,
                token_lifetime_s=token_lifetime,
                rate_429=rate_429,
                rate_5xx=rate_5xx,
                latency_s=latency,
                malformed_rate=malformed_rate,
                duplicate_rate=duplicate_rate,
                list_in_progress=list_in_progress,
                busy_hour_calls=busy_hour_calls,
                max_result_window=max_result_window,
                result_window_mode=cast(ResultWindowMode, result_window_mode),
                unstable_order=unstable_order,
                strict_lower_bound=strict_lower_bound,
                page_size_key=cast(PageSizeKey, page_size_key),
                float_money=float_money,
                envelope_fault=cast(EnvelopeFault, envelope_fault),
                envelope_fault_rate=envelope_fault_rate,
                trunks_envelope_fault=trunks_envelope_fault,
                total_items_cap=total_items_cap,
                echo_authorization=echo_authorization,
                gzip_bomb=gzip_bomb,
                gzip_bomb_rate=gzip_bomb_rate,
                extreme_times=extreme_times,
                duplicate_across_windows_rate=duplicate_across_windows_rate,
                export_fault=cast(ExportFault, export_fault),
                export_fault_rate=export_fault_rate,
                header_drip_s=header_drip,
                degraded_hour=_utc_hour(degraded_hour),
                degraded_trunk_id=degraded_trunk,
                degraded_failed_share=degraded_failed_share,
            )
            sb = stack.enter_context(run_sandbox(settings))
        except (ValueError, OSError) as exc:  # bad setting, unreadable replay file, port in use
            console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(code=2) from None
        console.print(f"Sinch sandbox at [bold]{sb.base_url}[/bold]")
        if sb.direct_url != sb.base_url:
            console.print(f"  (header drip front; the server itself is at {sb.direct_url})")
        console.print(f"  calls     {sb.calls_url}")
        console.print(f"  token     POST {sb.token_url}")
        console.print(f"  projectId {sb.project_id}")
        console.print(f"  keyId     {sb.key_id}")
        console.print(f"  keySecret {sb.key_secret}")
        console.print("Ctrl-C to stop.")
        stop = threading.Event()
        try:
            # Wake up regularly: a bare wait() may never see Ctrl-C when the server's threads
            # receive the signal.
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            console.print("stopping")
