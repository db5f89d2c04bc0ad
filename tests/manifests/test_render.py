"""`invoke render`: the real kubectl kustomize output; one clear line and exit 2 when it cannot."""

from __future__ import annotations

import json

import pytest
import yaml

from tooling.manifests import render


def test_render_prod_pins_digest_and_hashes_names(capsys):
    assert render.main("prod") == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    wt = next(d for d in docs if d["kind"] == "WorkflowTemplate" and d["metadata"]["name"] == "geozarr-convert")
    assert wt["metadata"]["namespace"] == "geozarr"
    images = {t["container"]["image"] for t in wt["spec"]["templates"] if "container" in t}
    assert len(images) == 1 and "@sha256:" in images.pop()  # the images transformer reached Argo's fields
    params_cm = next(d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"
                     and d["metadata"]["name"].startswith("geozarr-params-"))
    assert wt["spec"]["volumes"][1]["configMap"]["name"] == params_cm  # the hashed name reached it too


def test_unknown_env(capsys):
    assert render.main("qa") == 2
    assert capsys.readouterr().err.strip() == "render: unknown env 'qa': expected one of staging, prod"


def test_missing_kubectl(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert render.main("staging") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "kubectl not found" in captured.err


def test_failing_kustomization(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    try:
        render.kustomize(tmp_path)
    except render.RenderError as e:
        assert "failed:" in str(e) and "missing.yaml" in str(e)
    else:
        raise AssertionError("a broken kustomization rendered")


def test_a_multi_line_kustomize_error_reaches_the_user_whole(tmp_path, capsys, monkeypatch):
    """Issue 9, case 5: a duplicate key in a resource is reported by kustomize over several lines;
    every one of them is shown (not only the last, `>`), and `validate --json` prints a report."""
    from tooling import repo
    from tooling.manifests import validate

    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
                                      "data:\n  k: '1'\n  k: '2'\n")
    try:
        render.kustomize(tmp_path)
    except render.RenderError as e:
        assert 'mapping key "k" already defined at line 6' in str(e)
    else:
        raise AssertionError("a duplicate key rendered")
    monkeypatch.setattr(repo, "overlay_dir", lambda env: tmp_path)
    assert validate.main(["staging"], as_json=True) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert [f["rule"] for f in report["findings"]] == ["cannot-run"]
    assert 'mapping key "k" already defined' in report["findings"][0]["message"]
    assert report["passed"] is False and report["exit_code"] == 2
    assert 'mapping key "k" already defined' in err


def test_kustomizeconfig_reaches_every_argo_reference(rendered_of):
    """Renamed (prefixed, hashed) ServiceAccounts, ConfigMaps, PVCs and images land in the Argo fields."""
    from tooling.manifests import policy
    from tooling.manifests.workloads import containers

    docs = rendered_of("kustomizeconfig/prefixed").docs
    # Secrets, and the params keys the overlays' literals add (output_bucket, ...): per overlay
    dangling = [f for f in policy.check_references(docs, "test")
                if "Secret " not in f.message and "has no key" not in f.message]
    assert dangling == []
    wts = [d for d in docs if d.kind == "WorkflowTemplate"]
    assert {d.obj["spec"]["serviceAccountName"] for d in wts} == {"x-geozarr-convert", "x-geozarr-conformance"}
    assert {c.spec["image"] for d in wts for c in containers(d.obj)} == {"ghcr.io/eopf-explorer/geozarr-runner:9.9.9"}
    recorded = {e["value"] for d in wts for c in containers(d.obj) for e in c.spec["env"] if e["name"] == "GEOZARR_IMAGE"}
    assert recorded == {"ghcr.io/eopf-explorer/geozarr-runner:9.9.9"}


def _env_by_step(wt: dict) -> dict[tuple[str, str], list[dict]]:
    return {(wt["metadata"]["name"], t["name"]): t["container"].get("env") or []
            for t in wt["spec"]["templates"] if "container" in t}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_geozarr_image_env_is_pinned_like_the_image_and_nothing_else_changes(env):
    """base/kustomizeconfig points the images transformer at env values: GEOZARR_IMAGE gets the
    overlay's pin (prod: the digest), every other env entry renders exactly as written in base/."""
    from tooling import repo

    rendered = [d for d in yaml.safe_load_all(render.render(env)) if d and d["kind"] == "WorkflowTemplate"]
    sources = [d for p in sorted((repo.BASE / "workflows").glob("*.yaml"))
               for d in yaml.safe_load_all(p.read_text()) if d and d["kind"] == "WorkflowTemplate"]
    source_env = {k: v for d in sources for k, v in _env_by_step(d).items()}
    steps = 0
    for wt in rendered:
        for step, entries in _env_by_step(wt).items():
            image = next(t["container"]["image"] for t in wt["spec"]["templates"] if t["name"] == step[1])
            pinned = [e["value"] for e in entries if e["name"] == "GEOZARR_IMAGE"]
            assert pinned == [image], step
            if env == "prod":
                assert "@sha256:" in image
            written = [e for e in source_env[step] if e["name"] != "GEOZARR_IMAGE"]
            assert [e for e in entries if e["name"] != "GEOZARR_IMAGE"] == written, step
            steps += 1
    assert steps == 17  # every container step of the three templates carries it
