"""Overlay preservation, rendered for real: the peer bug (a strategic-merge patch replacing
`spec.templates`) fails naming the patch file, the resource and the field; JSON6902 passes."""

from __future__ import annotations

import pytest

from tooling.manifests import preservation


@pytest.fixture(scope="module")
def base(rendered_of):
    return rendered_of("preservation/base", "base")


def test_json6902_overlay_keeps_structure(base, rendered_of, fixtures_dir):
    env = rendered_of("preservation/overlay-json6902")
    assert preservation.check_preservation(base.docs, env.docs, "test", fixtures_dir / "preservation/overlay-json6902") == []


def test_strategic_merge_replacing_templates_is_caught(base, rendered_of, fixtures_dir):
    overlay = fixtures_dir / "preservation/overlay-smp"
    found = preservation.check_preservation(base.docs, rendered_of("preservation/overlay-smp").docs, "prod", overlay)
    assert found and {f.rule for f in found} == {preservation.STRUCTURE.id}
    assert {(f.kind, f.name, f.env) for f in found} == {("WorkflowTemplate", "convert", "prod")}
    assert {f.file for f in found} == {"tests/manifests/fixtures/preservation/overlay-smp/bigger-convert.yaml"}
    paths = {f.path for f in found}
    # the DAG template, the other template, a workflow parameter, and the surviving template's image
    assert {
        "spec.templates[name=main]",
        "spec.templates[name=register]",
        "spec.arguments.parameters[name=collection]",
        "spec.templates[name=convert].container.image",
    } <= paths
    # only the outermost loss of a template is reported, not each of its tasks
    assert not any(p.startswith("spec.templates[name=main].") for p in paths)
    assert all("base/workflow.yaml" in f.message for f in found)


def test_a_dropped_resource_is_caught(base, fixtures_dir):
    found = preservation.check_preservation(base.docs, [], "prod", fixtures_dir / "preservation/overlay-smp")
    assert [f.message.split(" from ")[0] for f in found] == ["WorkflowTemplate convert"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda wt: wt["spec"]["templates"][0]["dag"]["tasks"].pop(), "spec.templates[name=main].dag.tasks[name=register]"),
        (lambda wt: wt["spec"]["templates"][1]["container"].update(image=""), "spec.templates[name=convert].container.image"),
        (lambda wt: wt["spec"]["templates"][1]["container"].update(args=[]), "spec.templates[name=convert].container.args"),
        (lambda wt: wt["spec"]["templates"][0].pop("dag"), "spec.templates[name=main].dag"),
    ],
)
def test_lost_structure(base, change, path):
    import copy

    before = base.docs[0].obj
    after = copy.deepcopy(before)
    change(after)
    assert [p for p, _ in preservation.lost_structure(before, after)] == [path]


def test_values_may_change(base):
    import copy

    before = base.docs[0].obj
    after = copy.deepcopy(before)
    after["spec"]["arguments"]["parameters"][0]["value"] = "other"
    after["spec"]["templates"][1]["container"]["image"] = "ghcr.io/example/runner@sha256:" + "a" * 64
    assert preservation.lost_structure(before, after) == []


@pytest.mark.parametrize(
    ("docs", "lost", "touches"),
    [
        ([{"spec": {"templates": [{"name": "convert"}]}}], "spec.templates[name=main]", True),
        ([{"spec": {"templates": [{"name": "convert"}]}}], "spec.arguments.parameters[name=x]", False),
        ([[{"op": "replace", "path": "/spec/templates/2/container/resources", "value": {}}]], "spec.templates[name=main]", False),
        ([[{"op": "remove", "path": "/spec/templates/0"}]], "spec.templates[name=main]", True),
        ([[{"op": "replace", "path": "/spec/templates/1/container/image", "value": ""}]],
         "spec.templates[name=convert].container.image", True),
    ],
)
def test_blame_prefers_the_patch_that_removes(docs, lost, touches):
    patch = preservation.Patch("p.yaml", tuple(docs))
    assert patch.touches(lost) is touches
    other = preservation.Patch("other.yaml", ())
    assert preservation.blame([other, patch], lost, "k.yaml") == ("p.yaml" if touches else "other.yaml")
