"""`invoke validate` end to end: the repo validates clean, planted defects in a copy of the repo
fail with findings naming file, resource and field, and missing tools exit 2 with one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.report import render_table
from tooling import repo
from tooling.manifests import validate


@pytest.fixture(scope="module")
def repo_report():
    return validate.run()


def test_repo_validates_clean(repo_report):
    assert [f.to_dict() for f in repo_report.findings] == []
    report = repo_report.report().to_dict()
    assert report["passed"] is True and set(report["envs"]) == set(repo.ENVS)
    for env, s in report["envs"].items():
        assert s["kinds"]["WorkflowTemplate"] == 3 and s["kinds"]["SealedSecret"] == 4, env
        assert s["schema"]["documents"] == s["documents"] and s["schema"]["skipped"] == []


def test_table_names_each_env(repo_report):
    table = render_table(repo_report.report())
    for env in ("staging", "prod"):
        assert re.search(rf"^{env}: valid: \d+ documents checked \(.*WorkflowTemplate 3\)", table, re.MULTILINE), table
    assert table.splitlines()[-1].startswith("PASS validate staging, prod: ")
    assert "; 0 errors, 0 warnings, 0 info; " in table.splitlines()[-1]


def test_invoke_validate_json_exit_0():
    done = subprocess.run([sys.executable, "-m", "invoke", "validate", "--json"], cwd=repo.ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["findings"] == [] and set(out["envs"]) == {"staging", "prod"} and out["kind"] == "validate"
    assert "validate: checking prod" in done.stderr  # progress goes to stderr


def test_unknown_env_cannot_run(capsys):
    assert validate.main(["qa"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown env 'qa'" in err[0]


def test_missing_kubectl_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert validate.main(None) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1] == (
        "validate: cannot run: kubectl not found on PATH (kubectl v1.32 renders the overlays)")


def test_missing_promtool_exits_2(monkeypatch, tmp_path, capsys):
    (tmp_path / "kubectl").symlink_to(shutil.which("kubectl"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert validate.main(["staging"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "promtool not found on PATH" in captured.err.strip().splitlines()[-1]


def test_json6902_patches_are_not_flagged_as_lists(tmp_path):
    (tmp_path / "overlays/x/patches").mkdir(parents=True)
    for d in ("base", "components"):
        (tmp_path / d).mkdir()
    (tmp_path / "overlays/x/kustomization.yaml").write_text("patches:\n  - path: patches/ok.yaml\n")
    (tmp_path / "overlays/x/patches/ok.yaml").write_text("- op: remove\n  path: /spec/x\n")
    (tmp_path / "overlays/x/stray.yaml").write_text("- op: remove\n  path: /spec/x\n")
    found = validate.check_sources(tmp_path)
    assert [(f.rule, Path(f.file).name) for f in found] == [("yaml.not-a-mapping", "stray.yaml")]


# --- planted defects, in a copy of the repo, through the real CLI path ------------------------------

def _edit_yaml(path: Path, change) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _plant(root: Path) -> None:
    prod, staging = root / "overlays/prod", root / "overlays/staging"
    # 1. the peer bug: a strategic-merge patch that replaces spec.templates wholesale
    (prod / "patches/bigger-convert.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata:\n  name: geozarr-convert\n"
        "spec:\n  templates:\n    - name: convert-part\n      container:\n"
        "        resources: {requests: {cpu: '8', memory: 32Gi}, limits: {cpu: '8', memory: 32Gi}}\n")

    def prod_kustomization(docs):
        k = docs[0]
        k["patches"].append({"path": "patches/bigger-convert.yaml"})
        # 2. prod by tag instead of digest
        k["images"] = [{"name": "ghcr.io/eopf-explorer/geozarr-runner", "newTag": "0.1.0"}]

    _edit_yaml(prod / "kustomization.yaml", prod_kustomization)
    # 3. a duplicate key kustomize would silently accept
    text = (staging / "kustomization.yaml").read_text()
    (staging / "kustomization.yaml").write_text(text.replace("namespace: geozarr-staging\n",
                                                             "namespace: geozarr-staging\nnamespace: geozarr-staging\n", 1))
    # 4. a plaintext Secret
    (staging / "secrets/plain.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  token: hunter2\n")
    text = (staging / "kustomization.yaml").read_text()
    (staging / "kustomization.yaml").write_text(text.replace("  - secrets/stac-api-token.yaml\n",
                                                             "  - secrets/stac-api-token.yaml\n  - secrets/plain.yaml\n", 1))
    # 5. a wildcard verb in the base Role
    _edit_yaml(root / "base/rbac/executor-role.yaml", lambda docs: docs[0]["rules"][0].update(verbs=["*"]))
    # 6. env.yaml repeating a fact of the render; the render no longer stating its S3 endpoint
    _edit_yaml(staging / "env.yaml", lambda docs: docs[0].update(bucket="somewhere-else"))
    text = (staging / "kustomization.yaml").read_text()
    (staging / "kustomization.yaml").write_text(text.replace("s3_endpoint=https://s3.de.io.cloud.ovh.net", "s3_endpoint=", 1))
    # 7. broken PromQL
    _edit_yaml(root / "base/monitoring/alerts.yaml",
               lambda docs: docs[0]["spec"]["groups"][0]["rules"][0].update(expr="rate(x[5m) > 0"))
    # 8. a semaphore key that the ConfigMap does not have
    text = (root / "base/workflows/geozarr-convert.yaml").read_text()
    (root / "base/workflows/geozarr-convert.yaml").write_text(text.replace("key: convert", "key: conversions", 1))
    # 9. the scratch claim template renamed: the convert step still mounts `scratch`
    text = (root / "base/workflows/geozarr-conformance.yaml").read_text()
    assert text.count("        name: scratch\n      spec:") == 1
    (root / "base/workflows/geozarr-conformance.yaml").write_text(
        text.replace("        name: scratch\n      spec:", "        name: spill\n      spec:"))


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    for d in ("base", "overlays", "components", "schemas"):
        shutil.copytree(repo.ROOT / d, root / d)
    _plant(root)
    return root


@pytest.fixture(scope="module")
def planted(planted_root):
    return _validate_copy(planted_root)


def _validate_copy(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from tooling.manifests.validate import main; sys.exit(main(None, as_json=True))"],
        cwd=repo.ROOT, env=os.environ | {"GEOZARR_DEPLOY_ROOT": str(root)}, capture_output=True, text=True, check=False)


def test_a_run_from_the_tool_cache_gives_the_same_verdict(planted_root, planted):
    """The planted run filled the copy's build/cache/tools (every render and promtool result, the
    failing `promtool check rules` among them): a second run reads them back, same findings."""
    assert list((planted_root / "build/cache/tools").glob("*.json"))
    again = _validate_copy(planted_root)
    assert again.returncode == planted.returncode == 1
    assert json.loads(again.stdout)["findings"] == json.loads(planted.stdout)["findings"]


# (rule, env, file, kind/name, path prefix)
EXPECTED = [
    ("preservation.structure", "prod", "overlays/prod/patches/bigger-convert.yaml", "WorkflowTemplate/geozarr-convert",
     "spec.templates[name=main]"),
    ("preservation.structure", "prod", "overlays/prod/patches/bigger-convert.yaml", "WorkflowTemplate/geozarr-convert",
     "spec.templates[name=convert-part].container.image"),
    ("policy.image-digest", "prod", "base/workflows/geozarr-conformance.yaml", "WorkflowTemplate/geozarr-conformance",
     "spec.templates[1].container.image"),
    ("yaml.duplicate-key", "", "overlays/staging/kustomization.yaml", "Kustomization/", "namespace"),
    ("policy.plaintext-secret", "staging", "overlays/staging/secrets/plain.yaml", "Secret/plain", "stringData"),
    ("policy.rbac-wildcard", "staging", "base/rbac/executor-role.yaml", "Role/geozarr-workflow-executor", "rules[0].verbs"),
    ("policy.rbac-wildcard", "prod", "base/rbac/executor-role.yaml", "Role/geozarr-workflow-executor", "rules[0].verbs"),
    ("env.schema", "staging", "overlays/staging/env.yaml", "/", "bucket"),
    ("env.render", "staging", "overlays/staging/kustomization.yaml", "/", "s3_endpoint"),
    ("promtool.rules", "prod", "base/monitoring/alerts.yaml", "PrometheusRule/geozarr-alerts", "spec.groups"),
    ("policy.references", "staging", "base/workflows/geozarr-convert.yaml", "WorkflowTemplate/geozarr-convert",
     "spec.synchronization.semaphores[0].configMapKeyRef.key"),
    ("policy.references", "prod", "base/workflows/geozarr-conformance.yaml", "WorkflowTemplate/geozarr-conformance",
     "spec.templates[2].container.volumeMounts[2].name"),
]


def test_planted_defects_exit_1(planted):
    assert planted.returncode == 1, planted.stderr


@pytest.mark.parametrize(("rule", "env", "file", "what", "path"), EXPECTED, ids=[f"{e[0]}-{e[1]}" for e in EXPECTED])
def test_planted_defect_is_named(planted, rule, env, file, what, path):
    findings = json.loads(planted.stdout)["findings"]
    hits = [f for f in findings if f["rule"] == rule and f["env"] == env and f["file"] == file
            and f"{f['kind']}/{f['name']}" == what and f["path"].startswith(path)]
    assert hits, json.dumps([f for f in findings if f["rule"] == rule], indent=1)
