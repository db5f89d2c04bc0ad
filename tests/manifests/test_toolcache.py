"""The content-addressed cache of kubectl/promtool results (tooling.manifests.toolcache): a result
is read back only while every input file is byte-for-byte the same, with the real kubectl and
promtool. An entry is tampered with to prove a read-back (a real tool would never say "tampered")."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tooling.manifests import promtool, render, toolcache, validate
from tooling.manifests.toolcache import ToolCache
from tooling.schema.documents import load_documents

TREE = {
    "base/kustomization.yaml": "resources: [cm.yaml]\n",
    "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base}\ndata: {a: '1'}\n",
    "components/extra/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "labels: [{pairs: {component: extra}}]\n"),
    "overlay/kustomization.yaml": (
        "resources: [../base, extra.yaml]\ncomponents: [../components/extra]\nnamespace: ns\n"),
    "overlay/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n",
}


@pytest.fixture
def tree(tmp_path) -> Path:
    for rel, text in TREE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def _tamper(cache: ToolCache, **fields) -> None:
    entries = list(cache.directory.glob("*.json"))
    assert len(entries) == 1, entries
    data = json.loads(entries[0].read_text())
    entries[0].write_text(json.dumps(data | fields))


def test_the_inputs_of_a_render_are_its_directory_and_every_local_directory_it_references(tree):
    inputs = {str(p.relative_to(tree)) for p in toolcache.kustomize_inputs(tree / "overlay")}
    assert inputs == set(TREE)


def test_a_cached_render_is_the_render_and_is_read_back(tree):
    cache = ToolCache(tree / "cache")
    fresh = render.kustomize(tree / "overlay")
    assert render.kustomize(tree / "overlay", cache) == fresh
    assert "component: extra" in fresh and "namespace: ns" in fresh
    _tamper(cache, stdout="tampered")
    assert render.kustomize(tree / "overlay", cache) == "tampered"  # no kubectl ran


@pytest.mark.parametrize("changed", sorted(TREE))
def test_one_changed_byte_in_any_input_file_is_a_miss(tree, changed):
    cache = ToolCache(tree / "cache")
    render.kustomize(tree / "overlay", cache)
    _tamper(cache, stdout="tampered")
    path = tree / changed
    path.write_text(path.read_text() + "# changed\n")  # a comment: the render itself is the same
    assert render.kustomize(tree / "overlay", cache) == render.kustomize(tree / "overlay")


def test_another_tool_binary_or_version_is_a_miss(tree, monkeypatch):
    cache = ToolCache(tree / "cache")
    render.kustomize(tree / "overlay", cache)
    _tamper(cache, stdout="tampered")
    real = toolcache.tool_identity
    monkeypatch.setattr(toolcache, "tool_identity", lambda exe, c: real(exe, c) + ":v1.33")
    assert render.kustomize(tree / "overlay", cache) != "tampered"


def test_a_failing_render_is_not_cached(tree):
    (tree / "overlay/kustomization.yaml").write_text("resources: [missing.yaml]\n")
    cache = ToolCache(tree / "cache")
    with pytest.raises(render.RenderError):
        render.kustomize(tree / "overlay", cache)
    assert list(cache.directory.glob("*.json")) == []


@pytest.mark.parametrize("reference", ["https://github.com/org/repo//deploy?ref=v1", "../nowhere"])
def test_a_render_with_a_reference_not_on_disk_is_never_cached(tree, reference):
    (tree / "overlay/kustomization.yaml").write_text(f"resources: [{reference}]\n")
    assert toolcache.kustomize_inputs(tree / "overlay") is None


def test_an_unparsable_kustomization_is_never_cached(tree):
    (tree / "overlay/kustomization.yaml").write_text("resources: [\n")
    assert toolcache.kustomize_inputs(tree / "overlay") is None


def _rules(expr: str) -> list:
    text = textwrap.dedent(f"""
        apiVersion: monitoring.coreos.com/v1
        kind: PrometheusRule
        metadata: {{name: r}}
        spec:
          groups: [{{name: g, rules: [{{alert: A, expr: '{expr}'}}]}}]
        """)
    return load_documents(text, "r.yaml")[0]


def test_promtool_results_are_read_back_only_for_the_same_rule_files(tmp_path):
    cache = ToolCache(tmp_path / "cache")
    assert promtool.check_rules(_rules("up == 0"), "prod", cache) == []
    _tamper(cache, returncode=1, stdout="0.rules.yaml: 1:1: tampered\n")
    assert [f.message for f in promtool.check_rules(_rules("up == 0"), "prod", cache)] == ["tampered"]
    # another rule: promtool runs, and its real verdict is both returned and remembered
    found = promtool.check_rules(_rules("rate(x[5m) > 0"), "prod", cache)
    assert len(found) == 1 and "parse error" in found[0].message
    assert promtool.check_rules(_rules("rate(x[5m) > 0"), "prod", cache) == found


def _loaded(renders: render.Renders, directory: Path) -> list[tuple]:
    loaded = renders.rendered(directory, "x")
    return [(d.file, d.obj) for d in loaded.docs] + [f.to_dict() for f in loaded.findings]


def test_loaded_documents_are_read_back_for_the_same_render_only(tree):
    cache = ToolCache(tree / "cache")
    with render.Renders(cache) as cold, render.Renders(cache) as warm, render.Renders() as fresh:
        first = _loaded(cold, tree / "overlay")
        assert list(cache.directory.glob("*.pickle"))
        assert _loaded(warm, tree / "overlay") == first == _loaded(fresh, tree / "overlay")
    (tree / "base/cm.yaml").write_text(TREE["base/cm.yaml"].replace("a: '1'", "a: '2'"))
    with render.Renders(cache) as after, render.Renders() as fresh:
        assert _loaded(after, tree / "overlay") == _loaded(fresh, tree / "overlay") != first


def test_source_file_findings_are_read_back_for_the_same_files_only(tmp_path):
    for d in ("base", "components", "overlays/x"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "overlays/x/a.yaml").write_text("a: 1\n")
    cache = ToolCache(tmp_path / "cache")
    assert validate.check_sources(tmp_path, cache) == [] == validate.check_sources(tmp_path, cache)
    (tmp_path / "overlays/x/a.yaml").write_text("a: 1\na: 2\n")  # a changed file
    changed = validate.check_sources(tmp_path, cache)
    assert [f.rule for f in changed] == ["yaml.duplicate-key"] == [f.rule for f in validate.check_sources(tmp_path)]
    (tmp_path / "components/b.yaml").write_text("- 1\n")  # a new file
    assert len(validate.check_sources(tmp_path, cache)) == 2


def test_a_file_named_outside_the_directory_is_an_input_too(tree):
    """kustomize's load restrictor refuses such files; were it lifted, the key would still see them."""
    (tree / "shared.yaml").write_text("x: 1\n")
    text = (tree / "overlay/kustomization.yaml").read_text()
    (tree / "overlay/kustomization.yaml").write_text(text + "configurations: [../shared.yaml]\n")
    assert tree / "shared.yaml" in toolcache.kustomize_inputs(tree / "overlay")
