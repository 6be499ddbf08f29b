"""`python -m pipeline.sandbox serve` prints its URL and credentials and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx


def test_serve_prints_url_and_stops_on_ctrl_c():
    cmd = [sys.executable, "-m", "pipeline.sandbox", "serve", "--port", "0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        base = re.search(r"http://127\.0\.0\.1:\d+", out).group(0)
        key = re.search(r"keyId\s+(\S+)", out).group(1)
        secret = re.search(r"keySecret\s+(\S+)", out).group(1)
        project = re.search(r"projectId\s+(\S+)", out).group(1)
        r = httpx.get(f"{base}/v1/projects/{project}/trunks", auth=(key, secret))
        assert r.status_code == 200 and r.json()["totalItems"] == 5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
