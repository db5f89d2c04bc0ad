"""clusters/<env>: the Flux objects against the upstream Flux CRDs (schemas/crds/flux, v1.9.0),
their paths rendered by the real `kubectl kustomize`. One valid fixture; one invalid fixture per
rule (the valid cluster with one field changed)."""

import shutil
from pathlib import Path

import pytest
import yaml

from tooling import repo
from tooling.gitops import flux
from tooling.manifests import render
from tooling.manifests.render import kustomize

FIXTURES = Path(__file__).parent / "fixtures" / "flux"
INVALID = sorted(p.stem for p in (FIXTURES / "invalid").glob("*.yaml"))


def _cluster(tmp_path: Path, flux_yaml: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "valid", root)
    shutil.copy(flux_yaml, root / "flux.yaml")
    return root


def test_valid_fixture_has_no_finding():
    assert flux.check_directory(FIXTURES / "valid", FIXTURES / "valid") == []


@pytest.mark.parametrize("rule", INVALID)
def test_each_invalid_fixture_fails_its_rule_only(tmp_path, rule):
    root = _cluster(tmp_path, FIXTURES / "invalid" / f"{rule}.yaml")
    found = flux.check_directory(root, root)
    assert {f.rule for f in found} == {rule}, found
    assert all(f.kind == "Kustomization" and f.name == "app" and f.file for f in found)
    assert all(f.path.startswith("spec") for f in found)


def test_every_rule_has_an_invalid_fixture():
    assert set(INVALID) == {r.id for r in flux.RULES}


@pytest.mark.parametrize("env", repo.ENVS)
def test_the_real_clusters_are_valid(env):
    assert flux.check_cluster(env) == []


@pytest.mark.parametrize("env", repo.ENVS)
def test_each_env_syncs_its_overlay_after_its_prerequisites(env):
    docs = list(yaml.safe_load_all(kustomize(repo.cluster_dir(env))))
    by_name = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Kustomization"}
    app = by_name["geozarr"]["spec"]
    assert app["path"] == f"./overlays/{env}" and app["prune"] is True and app["suspend"] is False
    assert app["timeout"] and app["healthChecks"] and app["wait"] is False
    assert {d["name"] for d in app["dependsOn"]} == {
        "namespace", "sealed-secrets", "argo-workflows", "prometheus-operator-crds"}
    assert by_name["cluster"]["spec"]["path"] == f"./clusters/{env}"
    (source,) = [d for d in docs if d["kind"] == "GitRepository"]
    assert source["spec"]["ref"] == {"branch": "main"}


def test_strict_schema_agrees_with_the_crd_on_fields_and_patterns():
    v = flux._validators()[flux.KUSTOMIZATION]  # the CRD's strict schema, metadata resolved
    ok = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": "a"},
          "spec": {"interval": "5m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "r"}}}
    assert list(v.iter_errors(ok)) == []
    bad_interval = {**ok, "spec": {**ok["spec"], "interval": "5 minutes"}}
    assert [e.validator for e in v.iter_errors(bad_interval)] == ["pattern"]
    no_prune = {**ok, "spec": {k: val for k, val in ok["spec"].items() if k != "prune"}}
    assert [e.validator for e in v.iter_errors(no_prune)] == ["required"]
    bad_kind = {**ok, "spec": {**ok["spec"], "sourceRef": {"kind": "Bucket2", "name": "r"}}}
    assert [e.validator for e in v.iter_errors(bad_kind)] == ["enum"]


def test_metadata_is_checked_as_object_meta():
    from tooling.schema.documents import Document

    doc = Document({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "metadata": {"name": "x", "labelz": {}},
                    "spec": {"interval": "1m", "url": "https://example.org/r"}}, "f.yaml", 0)
    (finding,) = flux.check_schema(doc)
    assert finding.rule == "flux.schema" and finding.path == "metadata.labelz"


def test_a_depends_on_cycle_is_a_reference_error(tmp_path):
    text = (FIXTURES / "valid" / "flux.yaml").read_text().replace(
        "  path: ./prereq\n", "  path: ./prereq\n  dependsOn:\n    - name: app\n")
    (tmp_path / "cycle.yaml").write_text(text)
    root = _cluster(tmp_path, tmp_path / "cycle.yaml")
    found = flux.check_directory(root, root)
    assert {(f.rule, f.name) for f in found} == {("flux.reference", "app"), ("flux.reference", "prereq")}
    assert all("dependsOn cycle" in f.message for f in found)


def test_a_shared_render_set_renders_each_directory_once_with_the_same_findings(monkeypatch):
    """`invoke validate` renders the overlays, then the Flux step renders clusters/<env> and every
    spec.path: each directory once in the run, the overlays not again, findings unchanged."""
    calls: list[Path] = []
    real = render.kustomize

    def counting(directory, cache=None):
        calls.append(Path(directory).resolve())
        return real(directory, cache)

    monkeypatch.setattr(render, "kustomize", counting)
    with render.Renders() as renders:
        overlays = [repo.overlay_dir(env) for env in repo.ENVS]
        renders.start(*overlays)
        assert all(renders.rendered(d).docs for d in overlays)
        shared = flux.check_clusters(repo.ENVS, renders)
    assert len(calls) == len(set(calls))  # once per directory
    assert {d.resolve() for d in overlays} | {repo.cluster_dir(e).resolve() for e in repo.ENVS} <= set(calls)
    assert len(set(calls)) > 2 * len(repo.ENVS)  # the infrastructure paths too
    calls.clear()
    assert [f.to_dict() for f in shared] == [f.to_dict() for f in flux.check_clusters(repo.ENVS)]


@pytest.mark.parametrize("rule", INVALID)
def test_findings_through_a_shared_render_set_are_the_findings_alone(tmp_path, rule):
    root = _cluster(tmp_path, FIXTURES / "invalid" / f"{rule}.yaml")
    with render.Renders() as renders:
        renders.start(*(p for p in root.rglob("*") if p.is_dir()))  # all at once, in parallel
        shared = flux.check_directory(root, root, renders=renders)
    assert shared and [f.to_dict() for f in shared] == [f.to_dict() for f in flux.check_directory(root, root)]
