"""The local executor reads exactly the Argo features the repo uses and refuses the rest,
before running anything, naming the template or task and the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.dag.dagkit import py_template, tiny
from tooling.dag.model import Unsupported, parse_duration, read_workflow_template
from tooling.manifests.rendered import Rendered


def base() -> dict[str, Any]:
    return tiny([{"name": "a", "template": "t"}, {"name": "b", "template": "t", "depends": "a"}],
                [py_template("t", "pass")])


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


T = ["spec", "templates", 1]  # the container template `t`
TASK_B = ["spec", "templates", 0, "dag", "tasks", 1]

REFUSED = [
    ("sidecars", _set(T + ["sidecars"], [{"name": "s", "image": "x"}]),
     "spec.templates[1] (t).sidecars: not supported"),
    ("artifacts", _set(T + ["outputs"], {"artifacts": [{"name": "a", "path": "/tmp/a"}]}),
     "spec.templates[1] (t).outputs.artifacts: not supported"),
    ("steps template", _set(T, {"name": "t", "steps": [[{"name": "s", "template": "x"}]]}),
     "spec.templates[1] (t).steps: not supported"),
    ("when", _set(TASK_B + ["when"], "{{workflow.parameters.x}} == 1"),
     "tasks[1] (b).when: not supported"),
    ("withItems", _set(TASK_B + ["withItems"], [1, 2]), "tasks[1] (b).withItems: not supported"),
    ("templateRef", _set(TASK_B + ["templateRef"], {"name": "x", "template": "y"}),
     "tasks[1] (b).templateRef: not supported"),
    ("onExit", _set(["spec", "onExit"], "t"), "spec.onExit: not supported"),
    ("secret volume", _set(T + ["volumes"], [{"name": "tmp", "secret": {"secretName": "s"}}]),
     "volumes[0].secret: not supported"),
    ("envFrom", _set(T + ["container", "envFrom"], [{"configMapRef": {"name": "c"}}]),
     "(t).container.envFrom: not supported"),
    ("fieldRef", _set(T + ["container", "env"], [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]),
     "container.env[0].valueFrom.fieldRef: not supported"),
    ("subPath", _set(T + ["container", "volumeMounts"], [{"name": "tmp", "mountPath": "/tmp", "subPath": "x"}]),
     "container.volumeMounts[0].subPath: not supported"),
    ("no command", _set(T + ["container", "command"], []),
     "container.command: missing: the image's entrypoint is unknown locally"),
    ("podSpecPatch", _set(T + ["podSpecPatch"], "{}"), "(t).podSpecPatch: not supported"),
    ("templated deadline", _set(T + ["activeDeadlineSeconds"], "{{workflow.parameters.d}}"),
     "(t).activeDeadlineSeconds: expected an integer"),
    ("retry expression", _set(T + ["retryStrategy"], {"limit": 2, "expression": "lastRetry.foo == 1"}),
     "retryStrategy.expression: unsupported variable 'lastRetry.foo'"),
    ("unknown task in depends", _set(TASK_B + ["depends"], "zz"), "tasks[1] (b).depends: depends names task 'zz'"),
    ("cycle", _set(["spec", "templates", 0, "dag", "tasks", 0, "depends"], "b"), "dependency cycle"),
    ("nested dag", _set(TASK_B + ["template"], "main"), "'main' is a nested DAG"),
    ("steps entrypoint", _set(["spec", "entrypoint"], "t"), "spec.entrypoint: template 't' is a container"),
    ("pod variable", _set(T + ["container", "args"], ["{{pod.name}}"]),
     "(t).container.args[0]: {{pod.name}}: variable not supported"),
    ("expression template", _set(T + ["container", "args"], ["{{=sprig.upper('x')}}"]),
     "{{=sprig.upper('x')}}: variable not supported"),
    ("task result", _set(TASK_B + ["arguments"], {"parameters": [{"name": "v", "value": "{{tasks.a.outputs.result}}"}]}),
     "tasks[1] (b).arguments.parameters[0].value: {{tasks.a.outputs.result}}: variable not supported"),
    ("workflow status", _set(T + ["container", "args"], ["{{workflow.status}}"]),
     "{{workflow.status}}: variable not supported"),
]


@pytest.mark.parametrize(("case", "mutate", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_before_running(case: str, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    doc = base()
    read_workflow_template(doc)  # the unmutated one is accepted
    mutate(doc)
    with pytest.raises(Unsupported) as e:
        read_workflow_template(doc)
    assert any(message in p for p in e.value.problems), e.value.problems
    assert all(p.startswith("WorkflowTemplate tiny: ") for p in e.value.problems)


def test_every_problem_is_listed() -> None:
    doc = base()
    _set(T + ["sidecars"], [])(doc)
    _set(TASK_B + ["when"], "x")(doc)
    with pytest.raises(Unsupported) as e:
        read_workflow_template(doc)
    assert len(e.value.problems) == 2


def test_cluster_only_fields_accepted() -> None:
    doc = base()
    t = doc["spec"]["templates"][1]
    t["container"]["resources"] = {"limits": {"cpu": "1"}}
    t["container"]["securityContext"] = {"runAsNonRoot": True}
    doc["spec"]["serviceAccountName"] = "sa"
    doc["spec"]["podGC"] = {"strategy": "OnPodSuccess"}
    read_workflow_template(doc)


@pytest.mark.parametrize("overlay", ["rendered_staging", "rendered_prod"])
def test_the_repo_template_is_runnable(overlay: str, request: pytest.FixtureRequest) -> None:
    rendered: Rendered = request.getfixturevalue(overlay)
    spec = read_workflow_template(copy.deepcopy(rendered.workflow_template()))
    assert [t.name for t in spec.tasks] == ["sample", "convert", "check-geozarr", "build-stac",
                                            "check-stac", "report"]
    assert spec.fail_fast is False
    assert spec.templates["convert"].retry is not None and spec.templates["convert"].retry.limit == 3
    assert all("@sha256:" in i or ":" in i.rsplit("/", 1)[-1] for i in spec.images)


@pytest.mark.parametrize(("value", "seconds"), [(5, 5.0), ("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("2", 2.0)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError):
        parse_duration("soon")


def with_claim(**claim_spec: Any) -> dict[str, Any]:
    doc = base()
    doc["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "scratch"},
                                            "spec": {"accessModes": ["ReadWriteOnce"],
                                                     "resources": {"requests": {"storage": "1Gi"}},
                                                     **claim_spec}}]
    doc["spec"]["templates"][1]["container"]["volumeMounts"].append({"name": "scratch", "mountPath": "/scratch"})
    return doc


def test_volume_claim_template_accepted() -> None:
    doc = with_claim(storageClassName="fast", volumeMode="Filesystem")
    doc["spec"]["volumeClaimGC"] = {"strategy": "OnWorkflowCompletion"}
    spec = read_workflow_template(doc)
    assert spec.claims == ("scratch",)
    assert spec.volumes["scratch"].kind == "volumeClaimTemplate"
    assert spec.volume_claim_gc == "OnWorkflowCompletion"
    assert read_workflow_template(with_claim()).volume_claim_gc == "OnWorkflowSuccess"  # Argo's default


CLAIMS = "spec.volumeClaimTemplates[0] (scratch)"
CLAIM_REFUSED = [
    ("dataSource", lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(
        dataSource={"kind": "VolumeSnapshot", "name": "snap"}), f"{CLAIMS}.spec.dataSource: not supported"),
    ("selector", lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(selector={"matchLabels": {}}),
     f"{CLAIMS}.spec.selector: not supported"),
    ("volumeName", lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(volumeName="pv-1"),
     f"{CLAIMS}.spec.volumeName: not supported"),
    ("block", lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(volumeMode="Block"),
     f"{CLAIMS}.spec.volumeMode: 'Block': only Filesystem claims run locally"),
    ("no name", lambda d: d["spec"]["volumeClaimTemplates"][0].update(metadata={}),
     "spec.volumeClaimTemplates[0] (?).metadata.name: missing or templated"),
    ("templated name", lambda d: d["spec"]["volumeClaimTemplates"][0].update(metadata={"name": "{{workflow.name}}"}),
     "metadata.name: missing or templated"),
    ("status", lambda d: d["spec"]["volumeClaimTemplates"][0].update(status={"phase": "Bound"}),
     "spec.volumeClaimTemplates[0].status: not supported"),
    ("twice", lambda d: d["spec"]["volumeClaimTemplates"].append(d["spec"]["volumeClaimTemplates"][0]),
     "spec.volumeClaimTemplates[1] (scratch).metadata.name: claim name 'scratch' used twice"),
    ("also a volume", lambda d: d["spec"].update(volumes=[{"name": "scratch", "emptyDir": {}}]),
     f"{CLAIMS}.metadata.name: 'scratch' is also a volume of spec.volumes"),
    ("gc strategy", lambda d: d["spec"].update(volumeClaimGC={"strategy": "Never"}),
     "spec.volumeClaimGC.strategy: unknown strategy 'Never'"),
    ("gc field", lambda d: d["spec"].update(volumeClaimGC={"strategy": "OnWorkflowSuccess", "delay": "1m"}),
     "spec.volumeClaimGC.delay: not supported"),
    ("pod variable", lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(storageClassName="{{pod.name}}"),
     "{{pod.name}}: variable not supported"),
]


@pytest.mark.parametrize(("case", "mutate", "message"), CLAIM_REFUSED, ids=[c[0] for c in CLAIM_REFUSED])
def test_volume_claim_template_refusals(case: str, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    doc = with_claim()
    read_workflow_template(doc)
    mutate(doc)
    with pytest.raises(Unsupported) as e:
        read_workflow_template(doc)
    assert any(message in p for p in e.value.problems), e.value.problems
