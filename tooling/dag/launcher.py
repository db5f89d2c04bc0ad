"""How the local executor starts a step's process: through the fork server (tooling.dag.forkserver)
when the command is one of this project's console scripts, else as a plain subprocess.

Either way the step is its own process, in its own session (the pod's process group), with the
template's argv, env, cwd, stdout/stderr files and stdin from /dev/null, and the executor gets an
object with Popen's `pid`, `wait(timeout)`, `poll()` and `returncode`: deadlines, Ctrl-C
(killpg), retries and tooling.dag.orphans treat both kinds alike.

A step runs as a plain process, and the fork server is not used, when its env sets an interpreter
start-up variable (PYTHON* other than PYTHONUNBUFFERED, e.g. the benchmark's
PYTHONPROFILEIMPORTTIME): a forked child cannot honour one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Protocol, Self

DISTRIBUTION = "eopf-geozarr-deploy"
# the modules a step would import itself; `!module:function` is called (the converter's import
# bounds its import-time download). Importing starts no thread (checked by the server).
PRELOAD = (
    "runner.cli", "conformance.__main__", "!runner.converter_import:import_converter",
    "runner.convert", "runner.preflight", "runner.stac_item", "runner.register", "runner.storage",
    "runner.s3", "runner.sample_s2", "runner.backfill.plan", "runner.backfill.bulk_register",
    "runner.backfill.batch", "runner.backfill.report", "conformance.geozarr.check",
    "conformance.stac.check", "s3fs", "boto3", "pystac_client", "rasterio",
)
READY_TIMEOUT = 300.0
_PLAIN_OK = frozenset({"PYTHONUNBUFFERED"})


class StepProcess(Protocol):
    pid: int
    returncode: int | None

    def wait(self, timeout: float | None = None) -> int: ...
    def poll(self) -> int | None: ...


def console_scripts(bin_dir: Path) -> dict[str, str]:
    """This project's console scripts in BIN_DIR -> their entry point (`module:function`)."""
    try:
        eps = metadata.distribution(DISTRIBUTION).entry_points
    except metadata.PackageNotFoundError:
        return {}
    return {str(bin_dir / e.name): e.value for e in eps if e.group == "console_scripts"}


def needs_fresh_interpreter(env: Mapping[str, str]) -> bool:
    return any(k.startswith("PYTHON") and k not in _PLAIN_OK for k in env)


class ForkedProcess:
    """A child of the fork server, seen from the executor: its exit comes on REPLY."""

    def __init__(self, argv: list[str], pid: int, reply: socket.socket) -> None:
        self.args, self.pid, self.returncode = argv, pid, None
        self._reply = reply
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        left = timeout
        if self.returncode is None:
            if not self._lock.acquire(timeout=-1 if left is None else max(0.0, left)):
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            try:
                if self.returncode is None:
                    left = None if end is None else max(0.0, end - time.monotonic())
                    self._receive(left, timeout)
            finally:
                self._lock.release()
        return self.returncode  # type: ignore[return-value]

    def _receive(self, left: float | None, timeout: float | None) -> None:
        self._reply.settimeout(left)
        try:
            data = self._reply.recv(65536)
        except (TimeoutError, BlockingIOError):
            raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        if data:
            self.returncode = int(json.loads(data)["exit"])
        else:  # the server is gone: wait for the child itself; its status is lost
            _wait_gone(self.pid)
            self.returncode = 255
        self._reply.close()


def _wait_gone(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select

        select.select([fd], [], [])
    finally:
        os.close(fd)


class Launcher:
    """Starts steps; owns the fork server, started by `start` or by the first step that is one of
    our console scripts (a run whose steps are not never starts it), stopped by `close`."""

    def __init__(self, log: Path | None = None, preload: tuple[str, ...] = PRELOAD,
                 entries: Mapping[str, str] | None = None, use_server: bool = True) -> None:
        self.entries = dict(console_scripts(Path(sys.executable).parent) if entries is None else entries)
        self.preload = (*preload, *self.entries.values())
        self.log = log
        self.use_server = use_server and bool(self.entries)
        self.server: subprocess.Popen[bytes] | None = None
        self.fallback_reason = "" if self.use_server else "no fork server"
        self.ready: dict[str, Any] | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the fork server (it imports in the background); no-op when started or unused."""
        if not self.use_server or self.server is not None:
            return
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log: IO[bytes] | int = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
               "HOME": os.environ.get("HOME", "/")}
        try:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "tooling.dag.forkserver", str(theirs.fileno()),
                 json.dumps(list(self.preload))],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=env, cwd="/", start_new_session=True)
        finally:
            theirs.close()
            if not isinstance(log, int):
                log.close()
        self._control = mine

    def wait_ready(self, stopping: threading.Event | None = None) -> bool:
        """Whether the server serves (waits for its imports the first time, in short slices so
        that a run being stopped does not wait for them: then False, the step runs plainly)."""
        if self.ready is not None or not self.use_server:
            return bool(self.ready and self.ready.get("ready"))
        assert self._control is not None
        end = time.monotonic() + READY_TIMEOUT
        self._control.settimeout(0.2)
        data: bytes | None = None
        while data is None and time.monotonic() < end:
            if stopping is not None and stopping.is_set():
                return False
            try:
                data = self._control.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError as e:
                self.ready = {"ready": False, "reason": f"no ready message ({e})"}
                break
        self._control.settimeout(None)
        if self.ready is None and data is None:
            self.ready = {"ready": False, "reason": f"no ready message in {READY_TIMEOUT:g}s"}
        elif self.ready is None:
            self.ready = json.loads(data) if data else {"ready": False, "reason": "it exited"}
        if not self.ready.get("ready"):
            self.fallback_reason = f"fork server not ready: {self.ready.get('reason')}"
        return bool(self.ready.get("ready"))

    def launch(self, argv: list[str], env: Mapping[str, str], cwd: Path, stdout: IO[bytes],
               stderr: IO[bytes], stopping: threading.Event | None = None) -> StepProcess:
        """The step's process, started (OSError when it cannot be). STOPPING: the run's stop."""
        entry = self.entries.get(argv[0]) if self.use_server else None
        if entry is not None and not needs_fresh_interpreter(env):
            with self._lock:
                self.start()
                forked = self.wait_ready(stopping) and self._fork(argv, env, cwd, stdout, stderr, entry)
            if forked:
                return forked
        return subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=stdout, stderr=stderr,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def _fork(self, argv: list[str], env: Mapping[str, str], cwd: Path, stdout: IO[bytes],
              stderr: IO[bytes], entry: str) -> ForkedProcess | None:
        """Ask the server for the step; None when it cannot serve (the caller runs it plainly)."""
        if not cwd.is_dir():
            raise FileNotFoundError(f"[Errno 2] No such file or directory: {str(cwd)!r}")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = json.dumps({"argv": argv, "env": dict(env), "cwd": str(cwd), "entry": entry}).encode()
        assert self._control is not None
        try:
            with open(os.devnull, "rb") as stdin:
                socket.send_fds(self._control, [request],
                                [theirs.fileno(), stdin.fileno(), stdout.fileno(), stderr.fileno()])
            answer = json.loads(mine.recv(65536) or b'{"error": "the fork server exited"}')
        except OSError as e:
            answer = {"error": str(e)}
        finally:
            theirs.close()
        if "pid" not in answer:
            mine.close()
            self.fallback_reason = f"fork server: {answer.get('error')}"
            self.use_server = False
            return None
        return ForkedProcess(argv, int(answer["pid"]), mine)

    def close(self) -> None:
        """Stop the fork server: EOF on its socket ends it; SIGKILL when it never served or lingers."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.server is not None:
            if not (self.ready and self.ready.get("ready")):
                self.server.kill()  # still importing (or refused): it has no child to wait for
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None
