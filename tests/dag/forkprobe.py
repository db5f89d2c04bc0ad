"""A console-script entry point for the fork-server tests: `probe ACTION [ARG]`.

report CODE: prints argv, cwd and env as JSON on stdout, a line on stderr, exits CODE.
sleep S: sleeps S seconds. abort: dies of SIGABRT. raise: an uncaught exception.
interrupt: an uncaught KeyboardInterrupt. thread: a non-daemon thread writes after main returned.
settings: prints the temporary directory and dask's temporary-directory setting as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def main() -> int:
    action, arg = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    if action == "report":
        print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
                          "stdin": sys.stdin.read()}))
        print("a line on stderr", file=sys.stderr)
        return int(arg)
    if action == "sleep":
        time.sleep(float(arg))
        return 0
    if action == "abort":
        os.abort()
    if action == "raise":
        raise RuntimeError("probe failed on purpose")
    if action == "interrupt":
        raise KeyboardInterrupt
    if action == "settings":
        import tempfile

        import dask.config

        print(json.dumps({"tempdir": tempfile.gettempdir(),
                          "dask": dask.config.get("temporary-directory", None)}))
        return 0
    if action == "thread":
        threading.Thread(target=lambda: (time.sleep(0.2), print("written by the thread"))).start()
        return 0
    return 2


def slow_preload() -> None:
    """A preload that takes long (a server still importing)."""
    time.sleep(60)


def settle_settings() -> None:
    """A preload that reads what modules take from the environment once: TMPDIR and DASK_*."""
    import tempfile

    import dask.config

    tempfile.gettempdir()
    dask.config.get("temporary-directory", None)
