"""The fork server of the local executor: one long-lived process that has imported the image's
heavy modules (eopf-geozarr, xarray, zarr, dask, s3fs, boto3, rasterio, pystac-client …) once,
and forks one child per step that runs a console-script entry point (`geozarr-runner`,
`geozarr-conformance`) with the step's argv, env, cwd and stdio, as a fresh process would.

Run as `python -m tooling.dag.forkserver FD PRELOAD_JSON` by tooling.dag.launcher, never by hand.
FD is a SOCK_SEQPACKET socket to the executor. Messages are JSON:

- server -> executor, once: {"ready": true, "preloaded": [...], "failed": {...}} after the
  imports, or {"ready": false, "reason": "..."} (then it exits: the executor runs plain processes).
- executor -> server: {"argv", "env", "cwd", "entry": "module:function"} with four fds
  (SCM_RIGHTS): a reply socket, the step's stdin, stdout and stderr.
- server -> reply socket: {"pid": N} once the child leads its own session (so a killpg from the
  executor always reaches it), then {"exit": CODE} (Popen's returncode: -N for signal N).

Fork safety: the server imports modules only. It creates no thread, client, session or
connection before forking (it refuses to serve when importing started a Python thread); each
child re-seeds numpy's global generator (`random` re-seeds itself after fork). EOF on FD (the
executor ended or was SIGKILLed) stops the server; running children are left to the executor's
stop and to tooling.dag.orphans (each child records its group like a plain step).

Stdlib only at the top: the child's modules are the preloaded ones and what the step imports.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

MAX_MESSAGE = 1 << 20


def preload(modules: list[str]) -> tuple[list[str], dict[str, str]]:
    """Import MODULES (a `module:function` entry's module, or `!module:function` to call a
    no-argument function, e.g. the converter's bounded import); (imported, failed: reason)."""
    done, failed = [], {}
    for name in modules:
        try:
            if name.startswith("!"):
                module, func = name[1:].split(":")
                getattr(importlib.import_module(module), func)()
            else:
                importlib.import_module(name.split(":")[0])
            done.append(name)
        except Exception as e:  # noqa: BLE001 - the step will meet it again and report it
            failed[name] = f"{type(e).__name__}: {e}"
    return done, failed


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:  # the executor stopped waiting (it ended): nothing to tell
        pass


class Server:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply)

    def serve(self) -> None:
        self.selector.register(self.control, selectors.EVENT_READ)
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.control:
                    if not self._request():
                        return
                else:
                    self._reap(int(key.fd))

    def _request(self) -> bool:
        """Start the requested step; False on EOF (the executor is gone)."""
        try:
            data, fds, _, _ = socket.recv_fds(self.control, MAX_MESSAGE, 4)
        except ConnectionResetError:
            return False
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        reply = socket.socket(fileno=fds[0])
        try:
            request = json.loads(data)
            pid = self._fork(request, fds[1:], reply)
        except Exception as e:  # noqa: BLE001 - a bad request fails that step, not the server
            _send(reply, {"error": f"{type(e).__name__}: {e}"})
            reply.close()
            return True
        finally:
            for fd in fds[1:]:
                os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, reply)
        self.selector.register(pidfd, selectors.EVENT_READ)
        _send(reply, {"pid": pid})
        return True

    def _fork(self, request: dict[str, Any], stdio: list[int], reply: socket.socket) -> int:
        sync_r, sync_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the step: never returns
            os.close(sync_r)
            keep = {sync_w, *stdio}
            server_fds = [self.control.fileno(), self.selector.fileno(), reply.fileno(),
                          *self.children, *(r.fileno() for _, r in self.children.values())]
            become_step(request, stdio, sync_w, [fd for fd in server_fds if fd not in keep])
        os.close(sync_w)
        os.read(sync_r, 1)  # EOF once the child leads its own session (or died trying)
        os.close(sync_r)
        return pid

    def _reap(self, pidfd: int) -> None:
        pid, reply = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        _send(reply, {"exit": os.waitstatus_to_exitcode(status)})
        reply.close()


def become_step(request: dict[str, Any], stdio: list[int], sync_w: int, server_fds: list[int]) -> None:
    """In the forked child: the step's session, stdio, cwd, env and argv; run its entry point."""
    try:
        os.setsid()
        os.close(sync_w)  # the server may now give the executor this pid
        for fd in server_fds:
            os.close(fd)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        for fd in set(stdio):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        sys.path[0] = os.path.dirname(sys.argv[0])  # what a console script starts with
        _fresh_stdio(bool(os.environ.get("PYTHONUNBUFFERED")))
        _reseed()
        _reread_environment()
        module, func = request["entry"].split(":")
        entry = getattr(importlib.import_module(module), func)
    except BaseException:  # noqa: BLE001 - the step cannot start: say why on its stderr
        os.write(2, traceback.format_exc().encode(errors="replace"))
        os._exit(127)
    os._exit(run_entry(entry))


def _fresh_stdio(unbuffered: bool) -> None:
    """sys.stdin/stdout/stderr over fds 0-2, buffered the way a fresh interpreter's are."""
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"

    def text(fd: int, mode: str, errors: str, line_buffering: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        if mode == "r":
            buf: Any = io.BufferedReader(raw)
        else:
            buf = raw if unbuffered else io.BufferedWriter(raw)
        return io.TextIOWrapper(buf, encoding=encoding, errors=errors, line_buffering=line_buffering,
                                write_through=unbuffered and mode == "w")

    sys.stdin = sys.__stdin__ = text(0, "r", "strict", False)
    sys.stdout = sys.__stdout__ = text(1, "w", "strict", os.isatty(1))
    sys.stderr = sys.__stderr__ = text(2, "w", "backslashreplace", True)


def _reseed() -> None:
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # a fresh process draws its own entropy


def _reread_environment() -> None:
    """What the preloaded modules took from the server's environment, taken again from the
    step's: the temporary directory (`tempfile` caches TMPDIR at first use) and dask's config
    (read from DASK_* at import: DASK_TEMPORARY_DIRECTORY is where a step spills)."""
    import tempfile

    tempfile.tempdir = None
    dask_config = sys.modules.get("dask.config")
    if dask_config is not None:
        dask_config.refresh()


def run_entry(entry: Any) -> int:
    """Call ENTRY as a console script does (`sys.exit(main())`) and end as the interpreter
    would: the exit status of SystemExit, 1 after an uncaught exception (traceback on stderr),
    killed by SIGINT after an uncaught KeyboardInterrupt; non-daemon threads joined, atexit run."""
    interrupted = False
    try:
        code = _exit_status(entry())
    except SystemExit as e:
        code = _exit_status(e.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code, interrupted = 130, True
    except BaseException:  # noqa: BLE001 - what the interpreter does with it
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # type: ignore[attr-defined] - what interpreter shutdown does
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code & 0xFF


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    imported, failed = preload(json.loads(argv[1]))
    if threading.active_count() > 1:  # forking now would copy a thread's locks, not the thread
        names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        _send(control, {"ready": False, "reason": f"importing started threads: {names}"})
        return 1
    _send(control, {"ready": True, "preloaded": imported, "failed": failed})
    Server(control).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
