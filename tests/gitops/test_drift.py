"""`invoke drift`: no API server exists here, so a fake `kubectl` first on PATH prints real
`kubectl diff --server-side` output (tests/gitops/fixtures/drift/, with a Secret) and exits as
kubectl diff does. Asserted: the command line, the render on stdin, the exit codes, and that no
Secret value reaches stdout, stderr or --json."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tooling.gitops import diff, drift

FIXTURE = Path(__file__).parent / "fixtures" / "drift" / "kubectl-diff.out"
# every Secret value in the fixture (base64 in data, in the last-applied annotation)
SECRETS = ["T0xELUFDQ0VTUy1LRVk=", "TkVXLUFDQ0VTUy1LRVk=", "cGxhaW50ZXh0LXNlY3JldA==",
           "c3RhYy10b2tlbi1wbGFpbnRleHQ=", "bmV3LXN0YWMtdG9rZW4="]

REAL_KUBECTL = shutil.which("kubectl")

pytestmark = pytest.mark.fake_cluster


@pytest.fixture
def fake_kubectl(tmp_path, monkeypatch):
    def install(code: int, stdout: Path | None = FIXTURE, stderr: str = "") -> Path:
        script = tmp_path / "kubectl"
        out = f'cat "{stdout}"' if stdout else ":"
        err = f"printf '%s\\n' '{stderr}' >&2" if stderr else ":"
        # `kubectl kustomize` (the render) is the real one; only `kubectl diff` is faked
        script.write_text(f'#!/bin/sh\n[ "$1" = kustomize ] && exec "{REAL_KUBECTL}" "$@"\n'
                          f'printf "%s\\n" "$@" > "{tmp_path}/argv"\n'
                          f'cat > "{tmp_path}/stdin"\n{out}\n{err}\nexit {code}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        return tmp_path

    return install


def test_drift_redacts_every_secret_value(fake_kubectl, capsys):
    calls = fake_kubectl(1)
    assert drift.main("staging") == 1
    out = capsys.readouterr()
    assert all(s not in out.out + out.err for s in SECRETS)
    assert "-  STAC_API_TOKEN: '*** (before)'" in out.out and "+  STAC_API_TOKEN: '*** (after)'" in out.out
    assert "kubectl.kubernetes.io/last-applied-configuration: '***'" in out.out
    assert "+        image: ghcr.io/eopf-explorer/geozarr-runner:0.1.0" in out.out  # others untouched
    assert "name: geozarr-s3-credentials" in out.out and "type: Opaque" in out.out
    assert "2 object(s) differ" in out.err
    argv = (calls / "argv").read_text().split("\n")
    assert argv[:4] == ["--context", "ovh-geozarr-staging", "diff", "--server-side"]
    assert "--field-manager=kustomize-controller" in argv and argv[-3:-1] == ["-f", "-"]
    stdin = (calls / "stdin").read_text()
    assert "kind: WorkflowTemplate" in stdin and "namespace: geozarr-staging" in stdin


def test_drift_json_is_redacted_too(fake_kubectl, capsys):
    fake_kubectl(1)
    assert drift.main("staging", as_json=True) == 1
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["drift"] is True and all(s not in out for s in SECRETS)
    assert [(o["kind"], o["namespace"], o["name"]) for o in doc["objects"]] == [
        ("WorkflowTemplate", "geozarr-staging", "geozarr-convert"),
        ("Secret", "geozarr-staging", "geozarr-s3-credentials")]
    assert doc["objects"][0]["apiVersion"] == "argoproj.io/v1alpha1"


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (1, 1), (2, 2), (3, 2)])
def test_exit_codes_follow_kubectl_diff(fake_kubectl, capsys, code, expected):
    fake_kubectl(code, FIXTURE if code == 1 else None,
                 "error: dial tcp 127.0.0.1:8080: connect: connection refused" if code > 1 else "")
    assert drift.main("staging") == expected
    err = capsys.readouterr().err
    if code > 1:
        assert "connection refused" in err and "Traceback" not in err
    elif code == 0:
        assert "no drift" in err


def test_no_kubectl_cannot_run(tmp_path):
    with pytest.raises(drift.DriftError, match="not found on PATH"):
        drift.kubectl_diff("", "ctx", str(tmp_path / "no-kubectl"))


def test_diff_live_prints_redacted_output(fake_kubectl, capsys):
    fake_kubectl(1)
    assert diff.main(["staging"], live=True) == 1
    out = capsys.readouterr().out
    assert all(s not in out for s in SECRETS) and "'*** (after)'" in out


def test_rendered_diff_masks_secret_values():
    old = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: c2VjcmV0}\n"
    new = old.replace("c2VjcmV0", "bmV3") + "stringData: {p: plain}\n"
    (change,) = diff.compare(old, new)
    assert "c2VjcmV0" not in change.diff and "plain" not in change.diff and "+stringData:" in change.diff


def test_parse_object_names():
    assert drift.parse_object("/tmp/LIVE-1/v1.Namespace..geozarr") == ("v1", "Namespace", "", "geozarr")
    assert drift.parse_object("/tmp/MERGED-2/rbac.authorization.k8s.io.v1.Role.ns.a.b") == (
        "rbac.authorization.k8s.io/v1", "Role", "ns", "a.b")
