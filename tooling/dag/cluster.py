"""`invoke conformance --env staging|prod`: submit a Workflow from the env's deployed
`geozarr-conformance` WorkflowTemplate, follow it, and fetch its report from S3.

The Kubernetes API is reached through `KubeClient` (create_workflow/get_workflow); the real one
is `KubectlClient` (kubectl with the env's `--context`, JSON in and out). Tests use a fake.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tooling.argo import ARGO_API_VERSION
from tooling.dag.progress import Progress
from tooling.envconfig import EnvConfig
from tooling.errors import ToolingError
from tooling.manifests.rendered import CONFORMANCE_TEMPLATE as TEMPLATE_NAME

FINISHED = ("Succeeded", "Failed", "Error")


class ClusterError(ToolingError):
    """The API server refused or could not be reached (one line for the user)."""


class KubeClient(Protocol):
    def create_workflow(self, namespace: str, workflow: dict[str, Any]) -> dict[str, Any]: ...

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any]: ...


@dataclass
class KubectlClient:
    """The real client: `kubectl --context CONTEXT … -o json`."""

    context: str
    kubectl: str = "kubectl"
    timeout: float = 60.0

    def _run(self, args: list[str], what: str, stdin: str | None = None) -> dict[str, Any]:
        cmd = [self.kubectl, "--context", self.context, *args, "-o", "json"]
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except FileNotFoundError as e:
            raise ClusterError(f"{self.kubectl} not found on PATH") from e
        except subprocess.TimeoutExpired as e:
            raise ClusterError(f"kubectl {what} timed out after {self.timeout:g}s") from e
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
            raise ClusterError(f"kubectl {what} (context {self.context}): "
                               f"{lines[-1] if lines else 'exit ' + str(done.returncode)}")
        try:
            return dict(json.loads(done.stdout))
        except json.JSONDecodeError as e:
            raise ClusterError(f"kubectl {what}: output is not JSON") from e

    def create_workflow(self, namespace: str, workflow: dict[str, Any]) -> dict[str, Any]:
        return self._run(["create", "-n", namespace, "-f", "-"], "create workflow", stdin=json.dumps(workflow))

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any]:
        return self._run(["get", "-n", namespace, "workflow", name], f"get workflow {name}")


def build_workflow(cfg: EnvConfig, size: int | None, template: str = TEMPLATE_NAME) -> dict[str, Any]:
    """The Workflow submitted: the deployed template, with the env's output location made
    explicit (so the report is where this tool will look for it) and the sample size."""
    params = [
        {"name": "output_bucket", "value": cfg.bucket},
        {"name": "output_prefix", "value": cfg.prefix},
        {"name": "s3_endpoint", "value": cfg.s3_endpoint},
    ]
    if size is not None:
        params.append({"name": "size", "value": str(size)})
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{template}-",
            "namespace": cfg.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "eopf-geozarr",
                "app.kubernetes.io/component": "conformance",
                "eopf-geozarr.io/submitted-by": "invoke-conformance",
            },
        },
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": params},
        },
    }


def lint_workflow(workflow: dict[str, Any], template_doc: dict[str, Any] | None) -> list[str]:
    """Problems found by the same Argo schema + semantic lint as `invoke validate`, against the
    rendered template the workflow references."""
    from tooling.schema import check_documents
    from tooling.schema.documents import Document

    docs = [Document(workflow, "<submitted Workflow>", 0)]
    if template_doc is not None:
        docs.append(Document(template_doc, "<rendered WorkflowTemplate>", 0))
    findings, _ = check_documents(docs, standalone=template_doc is None)
    return [f"{f.rule}: {f.kind} {f.name}: {f.path}: {f.message}" for f in findings
            if str(f.severity) == "error"] + identifier_problems(workflow, template_doc)


def identifier_problems(workflow: dict[str, Any], template_doc: dict[str, Any] | None) -> list[str]:
    """The run's item id and collection (submitted, else the template's defaults) against the
    pipeline's identifier policy (runner.identifiers), before anything is submitted."""
    from runner import identifiers

    def values(doc: dict[str, Any] | None) -> dict[str, Any]:
        params = (((doc or {}).get("spec") or {}).get("arguments") or {}).get("parameters") or []
        return {p.get("name"): p.get("value") for p in params if isinstance(p, dict)}

    merged = {**values(template_doc), **values(workflow)}
    return [f"identifiers: parameter {key} {merged[key]!r}: {identifiers.problem(merged[key])}"
            for key in ("item_id", "collection")
            if merged.get(key) and identifiers.problem(merged[key])]


@dataclass
class NodeState:
    name: str
    phase: str
    started: str = ""
    finished: str = ""
    message: str = ""


def task_nodes(workflow: dict[str, Any]) -> dict[str, NodeState]:
    """The DAG tasks' nodes (retry groups stand for their task; pods of retries are folded in)."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    name = (workflow.get("metadata") or {}).get("name", "")
    out: dict[str, NodeState] = {}
    for node in nodes.values():
        if node.get("type") not in ("Retry", "Pod"):
            continue
        display = str(node.get("displayName", ""))
        if node.get("type") == "Pod" and "(" in display:  # `convert(0)`: an attempt of a Retry node
            continue
        if display == name:
            continue
        out[display] = NodeState(display, str(node.get("phase", "")), str(node.get("startedAt") or ""),
                                 str(node.get("finishedAt") or ""), str(node.get("message") or ""))
    return out


def _seconds(started: str, finished: str) -> float:
    from datetime import datetime

    if not started or not finished:
        return 0.0
    f = datetime.fromisoformat(finished)
    s = datetime.fromisoformat(started)
    return max(0.0, (f - s).total_seconds())


@dataclass
class FollowResult:
    name: str
    phase: str  # Succeeded | Failed | Error | Running (timeout) | Interrupted
    message: str
    tasks: list[dict[str, Any]] = field(default_factory=list)


def follow(client: KubeClient, namespace: str, name: str, progress: Progress, *, timeout: float,
           interval: float = 5.0, sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic) -> FollowResult:
    """Poll the workflow until it ends, printing node phase changes. Ctrl-C stops following
    (the workflow keeps running); so does TIMEOUT."""
    start = clock()
    seen: dict[str, str] = {}
    wf: dict[str, Any] = {}
    try:
        while True:
            wf = client.get_workflow(namespace, name)
            nodes = task_nodes(wf)
            for n in sorted(nodes.values(), key=lambda n: n.started or "~"):
                if seen.get(n.name) != n.phase:
                    seen[n.name] = n.phase
                    secs = _seconds(n.started, n.finished) if n.finished else None
                    progress.task(n.name, n.phase, secs, n.message if n.phase in ("Failed", "Error") else "")
            status = wf.get("status") or {}
            phase = str(status.get("phase") or "Pending")
            if phase in FINISHED:
                return FollowResult(name, phase, str(status.get("message") or ""), _tasks(nodes))
            if clock() - start >= timeout:
                return FollowResult(name, "Running",
                                    f"still {phase} after {timeout:g}s: stopped following; the workflow "
                                    f"keeps running (kubectl -n {namespace} get workflow {name})",
                                    _tasks(nodes))
            sleep(interval)
    except KeyboardInterrupt:
        return FollowResult(name, "Interrupted",
                            f"stopped following (Ctrl-C); the workflow keeps running "
                            f"(kubectl -n {namespace} get workflow {name})", _tasks(task_nodes(wf)))


def _tasks(nodes: dict[str, NodeState]) -> list[dict[str, Any]]:
    ordered = sorted(nodes.values(), key=lambda n: (n.finished or "~", n.name))
    return [{"name": n.name, "phase": n.phase, "seconds": _seconds(n.started, n.finished),
             **({"message": n.message} if n.message else {})} for n in ordered]
