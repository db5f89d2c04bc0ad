"""Helpers of the conformance-DAG tests: tiny WorkflowTemplates whose steps are real small
processes (`python -c …`)."""

from __future__ import annotations

from typing import Any


def tiny(tasks: list[dict[str, Any]], templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A WorkflowTemplate with a DAG entrypoint `main` over TASKS."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "tiny", "namespace": "test"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": tasks}}, *templates],
                 **spec},
    }


def py_template(name: str, code: str, *, outputs: list[str] = (), inputs: list[str] = (),
                **extra: Any) -> dict[str, Any]:
    """A container template running `python -c CODE ARGS…`; argv[1:] are its inputs, in order;
    an emptyDir at /tmp holds its outputs (/tmp/<name>)."""
    t: dict[str, Any] = {
        "name": name,
        "container": {
            "image": "python:3.12",
            "command": ["python", "-c", code],
            "args": [f"{{{{inputs.parameters.{i}}}}}" for i in inputs],
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        },
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if inputs:
        t["inputs"] = {"parameters": [{"name": i} for i in inputs]}
    if outputs:
        t["outputs"] = {"parameters": [{"name": o, "valueFrom": {"path": f"/tmp/{o}"}} for o in outputs]}
    t.update(extra)
    return t
