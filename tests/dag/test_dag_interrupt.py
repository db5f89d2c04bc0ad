"""`invoke conformance` (local) as CI and a terminal see it: the real rendered template, the S3
server on loopback, run in a child process. Ctrl-C, SIGTERM and SIGHUP stop it with exit 130 and
leave nothing running (no step process, no S3 server); `--json` puts only the report on stdout.

No conversion runs: the interrupts land during `sample`, and the JSON case plants a break in the
convert step's args so the DAG ends right after `sample`."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

DRIVER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
from pathlib import Path
from tooling.dag import localrun
if sys.argv[3] == "break-convert":
    from tooling.manifests.rendered import render_env
    rendered = render_env("staging")
    wt = rendered.workflow_template()
    convert = next(t for t in wt["spec"]["templates"] if t["name"] == "convert")
    convert["container"]["args"][1] = "{{inputs.parameters.sourse}}"
    localrun.render_env = lambda overlay: rendered
sys.exit(localrun.main_local("staging", int(sys.argv[2]), sys.argv[4] == "json", 2, None,
                             runs_dir=Path(sys.argv[1])))
"""


def start(tmp_path: Path, *, size: int, plant: str, as_json: bool) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "runs"), str(size), plant,
                             "json" if as_json else "text"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])


def processes_under(root: Path) -> list[int]:
    """Live processes whose working directory is inside ROOT (every step's is: its pod dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)):
            found.append(int(entry.name))
    return found


def wait_for_line(proc: subprocess.Popen[str], needle: str, seen: list[str], timeout: float = 60) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if needle in line:
                return
    raise AssertionError(f"no {needle!r} on stderr:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_interrupt_leaves_nothing_running(tmp_path: Path, signum: signal.Signals) -> None:
    proc = start(tmp_path, size=1098, plant="none", as_json=False)  # a sample that takes a while
    seen: list[str] = []
    try:
        wait_for_line(proc, "object store: S3 on loopback", seen)
        endpoint = seen[-1].split("loopback ", 1)[1].split(",")[0]
        host, port = endpoint.removeprefix("http://").split(":")
        wait_for_line(proc, "sample           Running", seen)
        deadline = time.monotonic() + 30
        while not processes_under(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        steps = processes_under(tmp_path)
        assert steps, "the sample step never started"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(seen) + err
    assert "conformance: interrupted" in err and "running steps were stopped" in err
    assert out == ""
    assert processes_under(tmp_path) == []  # the step is gone, not orphaned in its own session
    for pid in steps:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass  # the loopback S3 server went with the run


def test_json_prints_only_the_report(tmp_path: Path) -> None:
    proc = start(tmp_path, size=72, plant="break-convert", as_json=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    report = json.loads(out)  # all of stdout is one JSON document
    assert report["passed"] is False
    assert {t["name"]: t["phase"] for t in report["tasks"]}["convert"] == "Error"
    saved = tmp_path / "runs" / report["run_id"] / "report.json"
    assert json.loads(saved.read_text()) == report
    assert "task convert Error" in err  # the diagnosis goes to stderr
    assert not [line for line in err.splitlines() if line.startswith("[")]  # no progress with --json
    assert processes_under(tmp_path) == []


def test_steps_of_a_sigkilled_run_are_stopped_by_the_next(tmp_path: Path) -> None:
    """Issue 9, case 8: SIGKILL leaves the executor no chance to stop its steps (each runs in its
    own process group); the next run finds them by their recorded group and stops them."""
    from tooling.dag import orphans

    proc = start(tmp_path, size=1098, plant="none", as_json=False)
    seen: list[str] = []
    try:
        wait_for_line(proc, "sample           Running", seen)
        deadline = time.monotonic() + 30
        while not processes_under(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        steps = processes_under(tmp_path)
        assert steps, "the sample step never started"
        while not list((tmp_path / "runs").rglob(orphans.PGID_FILE)) and time.monotonic() < deadline:
            time.sleep(0.05)  # the step's group is recorded just after it starts
        proc.kill()  # SIGKILL to the executor only, as `kill -9 PID` does
        proc.wait(10)
        assert processes_under(tmp_path), "the step should outlive its killed executor"
        stopped = orphans.reap(tmp_path / "runs", grace=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(stopped) == 1
    deadline = time.monotonic() + 10
    while processes_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(tmp_path) == []
    assert not list((tmp_path / "runs").rglob(orphans.PGID_FILE))
    assert orphans.reap(tmp_path / "runs") == []  # nothing twice


def test_a_live_run_and_a_recycled_pid_are_left_alone(tmp_path: Path) -> None:
    from tooling.dag import orphans

    run = tmp_path / "runs" / "r1"
    pod = run / "tasks" / "a" / "attempt-1"
    pod.mkdir(parents=True)
    orphans.mark_executor(run)  # this very process: alive
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        orphans.mark_step(pod, child.pid)
        assert orphans.reap(tmp_path / "runs") == []
        (run / orphans.EXECUTOR_FILE).write_text("999999999 1\n")  # a dead executor
        (pod / orphans.PGID_FILE).write_text(f"{child.pid} 1\n")  # same pid, another start time
        assert orphans.reap(tmp_path / "runs") == [] and child.poll() is None
    finally:
        child.kill()
        child.wait()
