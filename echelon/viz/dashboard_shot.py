"""See the Ray dashboard of a training run as a user sees it, in headless Chromium.

:func:`check_dashboard` starts a training run (``scripts/train_distributed.py``, its own local Ray),
reads the dashboard URL and the token hint the driver prints, gets the token the way the hint
says (``ray get-auth-token``; the token is held in memory only, never printed or written), and
drives Debian's ``chromium`` over the DevTools protocol (a WebSocket client from ``aiohttp``,
which Ray's dashboard already depends on; nothing is downloaded):

1. open the printed URL: Ray's token authentication shows "Authentication Token Required"
   (screenshot ``dashboard_auth.png``);
2. type the token into that dialog and press Enter (the dashboard posts it to
   ``/api/authenticate``, which sets its session cookie, and reloads);
3. open the Actors view and wait until the rollout workers, the learner and the metrics actor are
   listed by class name (screenshot ``dashboard_actors.png``);
4. stop the run with SIGINT (a clean stop: final checkpoint, summary).

Not part of ``make test``: it needs ``chromium`` (``apt-get install chromium``) and a minute or two.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ACTOR_CLASSES = ("RolloutWorker", "LearnerActor", "MetricsActor")
URL_LINE = re.compile(r"dashboard: (http://\S+)")
TOKEN_LINE = re.compile(r"dashboard token: run `([^`]+)`")


@dataclass
class ShotResult:
    """What the check saw: the URL and token command the driver printed, the screenshots, and the
    actor classes found in the Actors view."""

    url: str
    token_command: str
    auth_dialog: bool
    classes_found: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    run_dir: str = ""
    printed: list[str] = field(default_factory=list)  # the driver's lines about the dashboard

    @property
    def ok(self) -> bool:
        return self.auth_dialog and set(ACTOR_CLASSES) <= set(self.classes_found)


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict:
        """Send one command and return its ``result`` (events arriving meanwhile are skipped)."""
        msg_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def text(self) -> str:
        res = await self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                              returnByValue=True)
        return str(res.get("result", {}).get("value", ""))

    async def wait_for_text(self, needles: tuple[str, ...], timeout_s: float) -> str:
        """Poll the page text until it holds every needle; returns the last text seen."""
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = await self.text()
            if all(n in text for n in needles):
                return text
            await asyncio.sleep(1.0)
        return text

    async def screenshot(self, path: Path) -> Path:
        res = await self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(res["data"]))
        return path


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no chromium on PATH; install Debian's package: apt-get install -y chromium")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _page_ws_url(port: int, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as resp:
                pages = [t for t in json.load(resp) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("chromium's DevTools endpoint did not come up")
        time.sleep(0.5)


async def _drive(url: str, token: str, out_dir: Path, result: ShotResult, timeout_s: float) -> None:
    import aiohttp

    port = _free_port()
    profile = tempfile.mkdtemp(prefix="echelon-chromium-")
    browser = subprocess.Popen(
        [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--window-size=1400,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ws_url = _page_ws_url(port)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
            dt = DevTools(ws)
            await dt.call("Page.enable")
            await dt.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1,
                          mobile=False)
            await dt.call("Page.navigate", url=url)
            text = await dt.wait_for_text(("Authentication Token Required",), timeout_s)
            result.auth_dialog = "Authentication Token Required" in text
            await asyncio.sleep(1.5)  # the dialog fades in
            result.screenshots.append(str(await dt.screenshot(out_dir / "dashboard_auth.png")))
            if not result.auth_dialog:
                return
            # The dialog's field has autofocus; focus it anyway, type the token, press Enter.
            await dt.call("Runtime.evaluate", expression="document.querySelector('input[type=password]').focus()")
            await dt.call("Input.insertText", text=token)
            for kind in ("keyDown", "keyUp"):
                await dt.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                              windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)
            await asyncio.sleep(3.0)  # the dashboard reloads once its cookie is set
            await dt.call("Page.navigate", url=url.rstrip("/") + "/#/actors")
            text = await dt.wait_for_text(ACTOR_CLASSES, timeout_s)
            result.classes_found = [c for c in ACTOR_CLASSES if c in text]
            # Give the learner (scheduled after the workers) time to come up, so the view shows the run.
            deadline = time.monotonic() + timeout_s
            while "PENDING_CREATION" in text and time.monotonic() < deadline:
                await asyncio.sleep(2.0)
                text = await dt.text()
            result.screenshots.append(str(await dt.screenshot(out_dir / "dashboard_actors.png")))
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _read_printed(proc: subprocess.Popen, timeout_s: float) -> tuple[str, str, list[str]]:
    """Read the driver's output until it has printed the dashboard URL and the token hint."""
    lines: list[str] = []
    url = command = None
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline and (url is None or command is None):
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        url = url or (m.group(1) if (m := URL_LINE.search(line)) else None)
        command = command or (m.group(1) if (m := TOKEN_LINE.search(line)) else None)
    if url is None or command is None:
        raise RuntimeError("the driver did not print the dashboard URL and token hint:\n" + "\n".join(lines[-20:]))
    return url, command, lines


def check_dashboard(config: str, out_dir: str | Path, run_dir: Optional[str | Path] = None,
                    timeout_s: float = 180.0, python: str = sys.executable) -> ShotResult:
    """Start a run of ``config``, look at its dashboard as above, stop the run; see the module docstring."""
    repo = Path(__file__).resolve().parents[2]
    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="echelon-dash-")) / "run"
    # Long enough to stay up while the browser looks; stopped with SIGINT once it has.
    cmd = [python, str(repo / "scripts" / "train_distributed.py"), "--config", config, "--run-dir", str(run_dir),
           "--address", "local", "--set", "learner.total_env_steps=100000000"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        url, command, lines = _read_printed(proc, timeout_s)
        # As the hint says: the token comes from `ray get-auth-token` (held here, never shown).
        ray_cli = str(Path(python).parent / "ray") if command.startswith("ray ") else None
        argv = [ray_cli or "ray", *command.split()[1:]]
        token = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        result = ShotResult(url=url, token_command=command, auth_dialog=False, run_dir=str(run_dir),
                            printed=[ln for ln in lines if "dashboard" in ln or "metrics of this node" in ln])
        asyncio.run(_drive(url, token, out_dir, result, timeout_s))
        return result
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # a clean stop: final checkpoint and summary
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
