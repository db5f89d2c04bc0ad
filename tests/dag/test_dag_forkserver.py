"""The local executor's fork server (tooling.dag.forkserver, tooling.dag.launcher): a step started
from it is the same process a plain subprocess would be (exit code, stdout, stderr, env, cwd,
signals), a crashing or killed step does not take the server with it, and the server goes away
with its executor. The step is tests/dag/forkprobe.py behind a console script of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dag.dagkit import tiny
from tooling.dag.executor import LocalRun
from tooling.dag.launcher import ForkedProcess, Launcher
from tooling.dag.model import read_workflow_template
from tooling.dag.pods import Objects, terminate
from tooling.manifests.rendered import Rendered

ENTRY = "tests.dag.forkprobe:main"


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console script like the venv's `geozarr-runner`, running the probe."""
    script = tmp_path_factory.mktemp("bin") / "probe"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom tests.dag.forkprobe import main\n"
                      "if __name__ == '__main__':\n    sys.exit(main())\n")
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def server(probe: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    log = tmp_path_factory.mktemp("forkserver") / "server.log"
    with Launcher(log, preload=("json",), entries={str(probe): ENTRY}) as launcher:
        launcher.start()
        yield launcher
    assert launcher.server is None


PLAIN = Launcher(entries={}, use_server=False)


def run(launcher: Launcher, argv: list[str], tmp: Path, env: dict[str, str] | None = None,
        timeout: float = 60) -> tuple[object, int, str, str]:
    """(the process object, its exit code, stdout, stderr) of ARGV started by LAUNCHER."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = env or {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp), "PYTHONUNBUFFERED": "1",
                  "STEP_VALUE": "ünïcode = $(not expanded)"}
    with (tmp / "out").open("wb") as out, (tmp / "err").open("wb") as err:
        proc = launcher.launch(argv, env, tmp, out, err)
        code = proc.wait(timeout)
    return proc, code, (tmp / "out").read_text(), (tmp / "err").read_text()


def test_a_forked_step_is_the_process_a_subprocess_would_be(server, probe, tmp_path):
    forked, code, out, err = run(server, [str(probe), "report", "3"], tmp_path / "forked")
    plain, plain_code, plain_out, plain_err = run(PLAIN, [str(probe), "report", "3"], tmp_path / "plain")
    assert isinstance(forked, ForkedProcess) and isinstance(plain, subprocess.Popen)
    assert code == plain_code == 3
    seen, expected = json.loads(out), json.loads(plain_out)
    assert seen["cwd"] == str(tmp_path / "forked") and expected["cwd"] == str(tmp_path / "plain")
    assert seen["argv"] == expected["argv"] == [str(probe), "report", "3"]
    assert seen["stdin"] == expected["stdin"] == ""
    assert seen["env"]["HOME"] == str(tmp_path / "forked")
    without_home = {k: v for k, v in seen["env"].items() if k != "HOME"}
    assert without_home == {k: v for k, v in expected["env"].items() if k != "HOME"}
    assert err == plain_err == "a line on stderr\n"


def test_settings_read_at_import_come_from_the_step_env(probe, tmp_path):
    """TMPDIR (cached by tempfile at first use) and DASK_* (read by dask at import) are the step's,
    though the server read its own before forking."""
    step_tmp = tmp_path / "step-tmp"
    step_tmp.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(step_tmp), "DASK_TEMPORARY_DIRECTORY": "/scratch-x"}
    with Launcher(tmp_path / "server.log", preload=("dask", "!tests.dag.forkprobe:settle_settings"),
                  entries={str(probe): ENTRY}) as launcher:
        launcher.start()
        proc, code, out, err = run(launcher, [str(probe), "settings"], tmp_path / "forked", env=env)
    assert isinstance(proc, ForkedProcess) and code == 0, err
    assert json.loads(out) == {"tempdir": str(step_tmp), "dask": "/scratch-x"}


@pytest.mark.parametrize(("action", "code", "stderr_has"), [
    ("abort", -signal.SIGABRT, ""),
    ("raise", 1, "RuntimeError: probe failed on purpose"),
    ("interrupt", -signal.SIGINT, "KeyboardInterrupt"),
    ("thread", 0, ""),
])
def test_endings_are_those_of_a_subprocess(server, probe, tmp_path, action, code, stderr_has):
    forked, forked_code, out, err = run(server, [str(probe), action], tmp_path / "forked")
    _, plain_code, plain_out, plain_err = run(PLAIN, [str(probe), action], tmp_path / "plain")
    assert isinstance(forked, ForkedProcess)
    assert forked_code == plain_code == code
    assert out == plain_out
    assert stderr_has in err and stderr_has in plain_err
    again, again_code, _, _ = run(server, [str(probe), "report", "0"], tmp_path / "again")
    assert isinstance(again, ForkedProcess) and again_code == 0  # the server survived the child


def test_a_killed_step_ends_and_the_server_serves_on(server, probe, tmp_path):
    (tmp_path / "a").mkdir()
    with (tmp_path / "a" / "out").open("wb") as out:
        slow = server.launch([str(probe), "sleep", "60"], {"PATH": "/usr/bin"}, tmp_path / "a", out, out)
        other = server.launch([str(probe), "sleep", "60"], {"PATH": "/usr/bin"}, tmp_path / "a", out, out)
    assert os.getpgid(slow.pid) == slow.pid  # its own group, like start_new_session
    with pytest.raises(subprocess.TimeoutExpired):
        slow.wait(0.2)
    assert slow.poll() is None
    terminate(slow)  # what a deadline or Ctrl-C does
    os.killpg(other.pid, signal.SIGKILL)
    assert (slow.wait(10), other.wait(10)) == (-signal.SIGTERM, -signal.SIGKILL)
    _, code, _, _ = run(server, [str(probe), "report", "0"], tmp_path / "b")
    assert code == 0


def test_interpreter_start_up_variables_get_a_fresh_interpreter(server, probe, tmp_path):
    env = {"PATH": "/usr/bin", "PYTHONPROFILEIMPORTTIME": "1"}
    proc, code, _, err = run(server, [str(probe), "report", "0"], tmp_path, env=env)
    assert isinstance(proc, subprocess.Popen) and code == 0
    assert "import time:" in err


def test_steps_run_concurrently_and_meet_deadlines(server, probe, tmp_path):
    sleeper = {"name": "sleep", "inputs": {"parameters": [{"name": "s"}]},
               "container": {"image": "x", "command": [str(probe), "sleep", "{{inputs.parameters.s}}"]}}
    tasks = [{"name": n, "template": "sleep", "arguments": {"parameters": [{"name": "s", "value": s}]}}
             for n, s in (("a", "1"), ("b", "1"), ("c", "30"))]
    tasks[2]["depends"] = "a && b"
    doc = tiny(tasks, [sleeper], activeDeadlineSeconds=6)
    spec = read_workflow_template(doc)
    start = time.monotonic()
    result = LocalRun(spec, Objects(Rendered.of("t", (doc,))), tmp_path / "run", parallelism=2,
                      launcher=server).execute()
    assert time.monotonic() - start < 20
    a, b = result.task("a"), result.task("b")
    assert a.phase == b.phase == "Succeeded"
    assert a.started < b.finished and b.started < a.finished  # they overlapped
    assert result.task("c").phase == "Failed" and "activeDeadlineSeconds" in result.message


def test_a_stopped_run_does_not_wait_for_the_imports(probe, tmp_path):
    stopping = threading.Event()
    with Launcher(tmp_path / "server.log", preload=("!tests.dag.forkprobe:slow_preload",),
                  entries={str(probe): ENTRY}) as launcher:
        launcher.start()
        stopping.set()  # Ctrl-C while the server imports
        start = time.monotonic()
        with (tmp_path / "out").open("wb") as out:
            proc = launcher.launch([str(probe), "report", "0"], {"PATH": "/usr/bin"}, tmp_path, out, out,
                                   stopping)
        assert isinstance(proc, subprocess.Popen) and time.monotonic() - start < 5
        proc.wait(30)
        server = launcher.server
    assert server is not None and server.poll() is not None  # closed while importing


DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tooling.dag.launcher import Launcher
    launcher = Launcher(None, preload=("json",), entries={sys.argv[1]: "tests.dag.forkprobe:main"})
    launcher.start()
    assert launcher.wait_ready()
    print(launcher.server.pid, flush=True)
    if sys.argv[2] == "close":
        launcher.close()
        print("closed", flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("ending", ["close", "sigkill"])
def test_the_server_ends_with_its_executor(probe, ending):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(probe), ending], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        server_pid = int(driver.stdout.readline())
        if ending == "close":
            assert driver.stdout.readline() == "closed\n"
        else:
            driver.kill()
            driver.wait(10)
        deadline = time.monotonic() + 10
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(server_pid)
    finally:
        driver.kill()
        driver.wait()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie is gone, awaiting its parent
