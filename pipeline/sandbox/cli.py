"""``pipeline sandbox serve`` (mounted by the main CLI) and ``python -m pipeline.sandbox``."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline.sandbox.server import run_sandbox
from pipeline.sandbox.settings import SandboxSettings

sandbox_app = typer.Typer(help="A local emulator of the Sinch Elastic SIP Trunk calls API.")


@sandbox_app.callback()
def _main() -> None:
    """Sandbox commands."""


@sandbox_app.command()
def serve(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port on 127.0.0.1 (0 = a free port)")
    ] = 8765,
    seed: Annotated[int, typer.Option(help="traffic seed")] = 20260101,
    replay: Annotated[
        Path | None, typer.Option(help="serve an export CSV or .jsonl instead of generated calls")
    ] = None,
    calls_per_hour: Annotated[float, typer.Option(help="peak-hour calls per trunk")] = 60.0,
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
            )
            sb = stack.enter_context(run_sandbox(settings))
        except (ValueError, OSError) as exc:  # bad setting, unreadable replay file, port in use
            console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(code=2) from None
        console.print(f"Sinch sandbox at [bold]{sb.base_url}[/bold]")
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
