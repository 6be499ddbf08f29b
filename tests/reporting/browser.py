"""Headless Chromium over the Chrome DevTools Protocol, for the report's browser test.

Why CDP over ``websockets`` (already in the lock through uvicorn) rather than a browser
library: Playwright downloads its own browser build (impossible offline; it can be pointed at
``/usr/bin/chromium`` but then brings a Node driver for what a dozen CDP calls do), and
Selenium needs Debian's ``chromium-driver`` as well plus care that Selenium Manager never tries
to download a driver. Here the system ``chromium`` is started with ``--remote-debugging-port=0``,
its ``DevToolsActivePort`` file gives the port, and one WebSocket carries the commands of one
page (flattened target session). Nothing is downloaded.

Also a command to take screenshots of a rendered report (docs/img)::

    uv run --frozen python -m tests.reporting.browser REPORT.html OUT_PREFIX [WIDTH]

writes ``OUT_PREFIX-full.png`` (whole page) and ``OUT_PREFIX-NN.png`` slices of 1,600 px.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

#: Hang guard only (a loaded machine makes the test slower, never wrong): the most any one
#: wait for the browser may take.
HANG_GUARD_S = 120

#: Counts the Plotly charts the page drew and what each holds (run once the page has loaded;
#: waits two animation frames so that the plots have painted).
CHARTS_JS = """
new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  done(plots.map(el => ({
    id: el.id,
    title: (el.layout && el.layout.title && el.layout.title.text) || '',
    svgs: el.querySelectorAll('.main-svg').length,
    traces: (el._fullData || []).length,
    points: (el.data || []).reduce((n, t) =>
      n + ((t.x || t.z || []).length || 0), 0),
    drawn: el.querySelectorAll('g.trace, g.hm, g.heatmaplayer image').length,
  })));
})))
"""


def find_chromium() -> str | None:
    """The Chromium binary on PATH (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Page:
    """One browser tab driven over CDP; events are kept in :attr:`events`."""

    def __init__(self, ws: Any, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command to the page and return its result (events on the way are kept)."""
        self._next += 1
        self.ws.send(
            json.dumps(
                {"id": self._next, "method": method, "params": params, "sessionId": self.session_id}
            )
        )
        while True:
            message = self._recv()
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for(self, method: str) -> dict[str, Any]:
        """Wait for the next event ``method`` (one already received counts)."""
        for event in self.events:
            if event["method"] == method:
                return event
        while True:
            message = self._recv()
            if message.get("method") == method:
                return message

    def _recv(self) -> dict[str, Any]:
        message = json.loads(self.ws.recv(timeout=HANG_GUARD_S))
        if "method" in message and message.get("sessionId") == self.session_id:
            self.events.append(message)
        return message

    def load(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Log.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript (a promise is awaited) and return its value as JSON data."""
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        """Uncaught exceptions, ``console.error`` calls and error log entries so far."""
        errors = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                errors.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        return errors

    def screenshot(self, path: Path, y: int = 0, height: int | None = None) -> None:
        """PNG of the page from ``y`` (CSS px), ``height`` px tall (None: to the end)."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        width, full = int(size["width"]), int(size["height"])
        height = full - y if height is None else min(height, full - y)
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": y, "width": width, "height": height, "scale": 1},
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def page_height(self) -> int:
        """The page's full height in CSS px."""
        return int(self.send("Page.getLayoutMetrics")["cssContentSize"]["height"])


@contextlib.contextmanager
def open_page(width: int = 1400, height: int = 1000, binary: str | None = None) -> Iterator[Page]:
    """Start headless Chromium (a private profile, no network use) and yield one page."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        proc = subprocess.Popen(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
                "--remote-debugging-port=0", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + HANG_GUARD_S
            while not port_file.is_file() or len(port_file.read_text().splitlines()) < 2:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit code {proc.returncode})")
                time.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
                browser = Page(ws, session_id="")
                target = browser.send("Target.createTarget", url="about:blank")["targetId"]
                session = browser.send("Target.attachToTarget", targetId=target, flatten=True)
                page = Page(ws, session["sessionId"])
                page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width, height=height, deviceScaleFactor=1, mobile=False,
                )  # fmt: skip
                yield page
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=HANG_GUARD_S)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str]) -> None:
    """Screenshots of a report: the whole page and slices of 1,600 px."""
    report, prefix = Path(argv[0]).resolve(), argv[1]
    width = int(argv[2]) if len(argv) > 2 else 1400
    with open_page(width=width) as page:
        page.load(report.as_uri())
        charts = page.evaluate(CHARTS_JS)
        print(f"{len(charts)} charts; console errors: {page.console_errors()}")
        page.screenshot(Path(f"{prefix}-full.png"))
        for i, y in enumerate(range(0, page.page_height(), 1600)):
            page.screenshot(Path(f"{prefix}-{i:02d}.png"), y=y, height=1600)


if __name__ == "__main__":
    main(sys.argv[1:])
