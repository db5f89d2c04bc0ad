import os
import stat
import textwrap

import pytest

from tooling.gitops import diff

OLD = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: ns}
data: {k: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gone, namespace: ns}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: same, namespace: ns}
"""
NEW = """\
apiVersion: v1
kind: ServiceAccount
metadata: {namespace: ns, name: same}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: ns}
data: {k: "2"}
---
apiVersion: v1
kind: Secret
metadata: {name: new, namespace: ns}
"""


def test_compare_reports_each_object_once_by_status():
    changes = diff.compare(OLD, NEW)
    assert [(c.kind, c.name, c.status) for c in changes] == [
        ("ConfigMap", "a", "changed"),
        ("ConfigMap", "gone", "removed"),
        ("Secret", "new", "added"),
    ]
    changed = changes[0].diff
    assert '-  k: "1"' in changed or "-  k: '1'" in changed
    assert "+  k: '2'" in changed or '+  k: "2"' in changed


def test_compare_ignores_key_order_and_formatting():
    assert diff.compare(OLD, OLD.replace("{name: a, namespace: ns}", "{namespace: ns, name: a}")) == []


def test_markdown_names_env_and_objects():
    md = diff.to_markdown({"staging": diff.compare(OLD, NEW), "prod": []}, "origin/main")
    assert md.startswith("### DIFFERS: diff `origin/main -> this change`")
    assert "**staging: 3 object(s): changed ConfigMap ns/a, removed ConfigMap ns/gone" in md
    assert "```diff\n" in md and "**prod: no change**" in md


def test_unknown_ref_is_a_clear_error(capsys):
    assert diff.main(["staging"], against="no-such-ref-xyz") == 2
    err = capsys.readouterr().err
    assert err.startswith("diff: cannot run: cannot read git ref 'no-such-ref-xyz'") and "Traceback" not in err


@pytest.mark.fake_cluster
@pytest.mark.parametrize(("code", "expected"), [(0, 0), (1, 1), (2, 2)])
def test_live_diff_follows_kubectl_diff_exit_codes(tmp_path, monkeypatch, capsys, code, expected):
    """No API server exists here: a fake `kubectl` first on PATH stands in for `kubectl diff`."""
    fake = tmp_path / "kubectl"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$@" > {tmp_path}/argv
        [ {code} -eq 1 ] && echo "-  replicas: 1"
        [ {code} -gt 1 ] && echo "error: dial tcp 127.0.0.1:8080: connection refused" >&2
        exit {code}
        """))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert diff.main(["staging"], live=True) == expected
    argv = (tmp_path / "argv").read_text()
    assert "diff" in argv and "-k" in argv and argv.rstrip().endswith("overlays/staging")
    err = capsys.readouterr().err
    if code > 1:
        assert "connection refused" in err and "exit 2" in err
