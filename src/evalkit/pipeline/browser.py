"""Headless Chromium, offline: find it, run it, and look at a pack as a reader's browser shows it.

:func:`find_chromium` looks for ``$EVALKIT_CHROMIUM``, then ``chromium``,
``chromium-browser`` and ``google-chrome`` on ``PATH`` (Debian's package
``chromium``: ``make browser`` installs it). Every start passes
:data:`OFFLINE_FLAGS`, so Chromium neither phones home nor resolves any host
name, and gets a fresh, throw-away profile.

:class:`Browser` drives one Chromium through the DevTools protocol over a pair
of pipes (``--remote-debugging-pipe``) rather than a TCP port: no port is
opened on the machine, nothing is read back from the profile folder, and no
WebSocket library is needed. :meth:`Browser.visit` opens a page in a new tab
and records what a reader would notice: console errors, uncaught exceptions
and every request the page made (:class:`PageVisit`).
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.atomic import write_atomic
from evalkit.errors import PublishError

logger = logging.getLogger(__name__)

ENV_VARIABLE = "EVALKIT_CHROMIUM"  # a Chromium executable to use instead of the one found on PATH
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")  # Debian's package first
INSTALL_HINT = ("install Debian's package with `make browser` (as root: apt-get install --no-install-recommends "
                f"chromium fonts-liberation), or set {ENV_VARIABLE} to a Chromium executable")
OFFLINE_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps", "--disable-domain-reliability",
    "--disable-client-side-phishing-detection", "--disable-breakpad", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # every host name fails to resolve: nothing leaves the machine
    "--hide-scrollbars", "--mute-audio", "--force-color-profile=srgb", "--font-render-hinting=none",
)
LOCAL_SCHEMES = ("data:", "blob:", "about:")  # content held in the page itself, never fetched
SETTLE_SECONDS = 0.3  # after the load event and fonts, time for late console messages or requests to arrive
BASH = shutil.which("bash") or "/bin/bash"  # Debian's bash is an essential package
CALL_TIMEOUT = 30.0  # seconds for one DevTools command (a navigation included)


def find_chromium() -> str | None:
    """The Chromium executable to use (see the module docstring), or None when there is none."""
    named = os.environ.get(ENV_VARIABLE)
    if named:
        return shutil.which(named)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium(what: str) -> str:
    """The Chromium executable, or :class:`PublishError` naming ``what`` needed it and how to install it."""
    found = find_chromium()
    if found is None:
        where = f"{ENV_VARIABLE}={os.environ[ENV_VARIABLE]!r} is not an executable" if os.environ.get(
            ENV_VARIABLE) else f"none of {', '.join(CHROMIUM_NAMES)} is on PATH"
        raise PublishError(f"{what}: headless Chromium is needed but {where}; {INSTALL_HINT}.")
    return found


def chromium_command(chromium: str, profile: Path, *flags: str) -> list[str]:
    """The command line of one offline, headless Chromium with the throw-away profile folder ``profile``."""
    return [chromium, *OFFLINE_FLAGS, f"--user-data-dir={profile}", *flags]


def stop(process: subprocess.Popen) -> None:
    """End Chromium and every helper process it started (they share its process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)  # also when Chromium itself has exited: its helpers may not have
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def last_lines(text: str, count: int = 5) -> str:
    """The last lines Chromium printed, without the D-Bus complaints of a machine with no desktop."""
    lines = [line for line in text.splitlines() if line.strip() and "dbus" not in line.lower()]
    return " | ".join(lines[-count:]) or "(it printed nothing)"


@dataclass(frozen=True)
class PageVisit:
    """What happened while one page loaded: ``url``, ``console_errors`` (console messages of level error,
    uncaught exceptions and the browser's own error log entries, as text) and ``requests`` (every URL the
    page requested, the page's own included, in order)."""

    url: str
    console_errors: tuple[str, ...]
    requests: tuple[str, ...]

    @property
    def requests_beyond_page(self) -> tuple[str, ...]:
        """Requests for anything but the page itself and content held inside it (``data:``, ``blob:``)."""
        return tuple(u for u in self.requests if u != self.url and not u.startswith(LOCAL_SCHEMES))


def _console_text(method: str, params: dict[str, Any]) -> str | None:
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
        return "console.error: " + " ".join(args)
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return "uncaught: " + details.get("exception", {}).get("description", details.get("text", ""))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip()
    return None


def _pipe(high_end: int) -> tuple[int, int]:
    """A pipe whose end ``high_end`` (0: read, 1: write) is numbered 10 or above, so it is never fd 3 or 4."""
    ends = list(os.pipe())
    moved = fcntl.fcntl(ends[high_end], fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(ends[high_end])
    ends[high_end] = moved
    return ends[0], ends[1]


class Browser:
    """One headless Chromium driven through the DevTools protocol; use as a context manager.

    ``width`` x ``height`` is the size of the first screen (CSS pixels at scale 1) for
    :meth:`screenshot`. Raises :class:`PublishError` when Chromium is missing, will not start or stops
    answering.
    """

    def __init__(self, chromium: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout: float = CALL_TIMEOUT):
        self.chromium = chromium or require_chromium("the browser checks")
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = Path(tempfile.mkdtemp(prefix="evalkit-chromium-"))
        self._events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None
        self._target: str | None = None
        commands_r, self._commands = _pipe(high_end=0)  # we write commands; Chromium reads them on its fd 3
        self._replies, replies_w = _pipe(high_end=1)  # Chromium writes replies and events on its fd 4
        # Chromium wants the pipes exactly at fds 3 and 4: bash (dash knows fds 0-9 only) moves them there and
        # execs Chromium; no preexec_fn, which is unsafe in a process with threads.
        move = f'exec "$0" "$@" 3<&{commands_r} 4>&{replies_w} {commands_r}<&- {replies_w}>&-'
        command = chromium_command(self.chromium, self._profile, "--remote-debugging-pipe",
                                   f"--window-size={width},{height}", "about:blank")
        self._process: subprocess.Popen | None = None
        try:
            self._process = subprocess.Popen([BASH, "-c", move, *command], pass_fds=(commands_r, replies_w),
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.close()
            raise PublishError(f"cannot start {self.chromium} ({exc}); {INSTALL_HINT}.") from exc
        finally:
            os.close(commands_r)
            os.close(replies_w)
        logger.debug("Started %s (process %d) for the browser checks", self.chromium, self._process.pid)
        try:
            self.call("Target.setDiscoverTargets", {"discover": False})  # the first answer: Chromium is up
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End Chromium and remove its profile."""
        if self._process is not None:
            stop(self._process)
            self._process = None
        self._close_pipes()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _close_pipes(self) -> None:
        for name in ("_commands", "_replies"):
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next message from Chromium, or None when ``deadline`` passes first."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                return None
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise PublishError(f"{self.chromium} stopped answering (exit status {self._process.wait()}).")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict:
        """Send one DevTools command (to the current tab's ``session``) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = memoryview(json.dumps(message).encode() + b"\0")
        try:
            while data:
                data = data[os.write(self._commands, data):]
        except BrokenPipeError as exc:
            raise PublishError(f"{self.chromium} stopped answering (exit status {self._process.wait()}).") from exc
        deadline = time.monotonic() + self.timeout
        while (reply := self._read(deadline)) is not None:
            if reply.get("id") != self._next_id:
                self._events.append(reply)
                continue
            if "error" in reply:
                raise PublishError(f"Chromium refused {method}: {reply['error'].get('message', reply['error'])}")
            return reply.get("result", {})
        raise PublishError(f"Chromium did not answer {method} within {self.timeout:.0f} s.")

    def _wait_for(self, seen: int, wanted: Callable[[dict[str, Any]], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if any(wanted(e) for e in self._events[seen:]):
                return True
            message = self._read(deadline)
            if message is None:
                return False
            self._events.append(message)

    def visit(self, page: Path | str, *, settle: float = SETTLE_SECONDS) -> PageVisit:
        """Open ``page`` (a file, or a ``file:`` URL) in a fresh tab, wait for its load event, its fonts and
        ``settle`` seconds, and return what happened. The tab stays open for :meth:`evaluate` and
        :meth:`screenshot`."""
        url = str(page) if str(page).startswith("file:") else Path(page).resolve().as_uri()
        self._close_tab()
        self._target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": self._target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=self._session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False},
                  session=self._session)
        seen = len(self._events)
        navigated = self.call("Page.navigate", {"url": url}, session=self._session)
        if navigated.get("errorText"):
            raise PublishError(f"{url}: Chromium could not open the page ({navigated['errorText']}).")
        session = self._session
        if not self._wait_for(seen, lambda e: e.get("method") == "Page.loadEventFired"
                              and e.get("sessionId") == session, self.timeout):
            raise PublishError(f"{url}: the page did not finish loading within {self.timeout:.0f} s.")
        self.evaluate("document.fonts.ready.then(() => true)")
        self._wait_for(len(self._events), lambda e: False, settle)
        mine = [e for e in self._events[seen:] if e.get("sessionId") == session]
        errors = tuple(t for e in mine if (t := _console_text(e.get("method", ""), e.get("params", {}))))
        requests = tuple(e["params"]["request"]["url"] if e["method"] == "Network.requestWillBeSent"
                         else e["params"]["url"] for e in mine
                         if e.get("method") in ("Network.requestWillBeSent", "Network.webSocketCreated"))
        del self._events[seen:]
        logger.debug("Visited %s: %d console error(s), %d request(s)", url, len(errors), len(requests))
        return PageVisit(url=url, console_errors=errors, requests=requests)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the open tab (a promise is awaited); JSON-like values only."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=self._session)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise PublishError(f"the page's script check failed: "
                               f"{details.get('exception', {}).get('description', details.get('text'))}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path) -> Path:
        """Save the open tab's first screen (``width`` x ``height``) as a PNG, written atomically."""
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False},
                         session=self._session)
        return write_atomic(Path(path), base64.b64decode(shot["data"]))

    def _close_tab(self) -> None:
        if self._target is not None:
            self.call("Target.closeTarget", {"targetId": self._target})
            self._target = self._session = None
            self._events.clear()


def run_chromium(command: Sequence[str], *, timeout: float) -> tuple[int, str]:
    """Run one Chromium command to the end; its exit status and what it printed. Killed (and all its helper
    processes) after ``timeout`` seconds, as :class:`subprocess.TimeoutExpired`."""
    process = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except BaseException:
        stop(process)
        raise
    return process.returncode, output.decode("utf-8", errors="replace")


__all__ = ["Browser", "CHROMIUM_NAMES", "ENV_VARIABLE", "INSTALL_HINT", "OFFLINE_FLAGS", "PageVisit",
           "chromium_command", "find_chromium", "last_lines", "require_chromium", "run_chromium", "stop"]
