"""The Argo document model: what the repo knows about Workflow-like Argo objects, in one place.

Used by the semantic lint (tooling/schema/argo_*.py), the deployment policy and preservation
checks (tooling/manifests/workloads.py, preservation.py) and the local executor
(tooling/dag/model.py, substitution.py):
- the kinds and where their WorkflowSpec sits (`workflow_spec`, `spec_of`), the template types;
- `TemplateAt`/`templates_at`: a spec's templates with their field paths;
- `ArgoSet` indexes the WorkflowTemplates/ClusterWorkflowTemplates of a document set (what
  `templateRef` and `workflowTemplateRef` resolve against); `WorkflowView` walks one object's
  templates, steps and DAG tasks with their field paths;
- DAG dependencies (`dependencies`) and their cycles (`find_cycle`);
- `{{…}}` tags (`TAG`, `tags`) and the strings a value holds, with their paths (`strings`).
Everything here tolerates malformed input (the schema check reports it): wrong types are
skipped, never raised on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the model reads any object with these attributes; no schema engine at import
    from tooling.schema.documents import Document

ARGO_GROUP = "argoproj.io"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
# Kinds whose spec is a WorkflowSpec, and where that spec sits in the object.
WORKFLOW_SPEC_PATH: dict[str, tuple[str, ...]] = {
    "Workflow": ("spec",),
    "WorkflowTemplate": ("spec",),
    "ClusterWorkflowTemplate": ("spec",),
    "CronWorkflow": ("spec", "workflowSpec"),
}
WORKFLOW_KINDS: tuple[str, ...] = tuple(WORKFLOW_SPEC_PATH)

# Exactly one of these makes a template's type; in the order of Argo's Template.GetType().
TEMPLATE_TYPES: tuple[str, ...] = (
    "container", "containerSet", "steps", "script", "resource",
    "dag", "suspend", "data", "http", "plugin",
)
# the types that run something themselves (not steps/dag calling other templates)
LEAF_TYPES: tuple[str, ...] = tuple(t for t in TEMPLATE_TYPES if t not in ("steps", "dag"))

# a `{{…}}` tag (group 1: what is inside, unstripped), across lines as Argo's fasttemplate reads it
TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

# results a `depends` expression may test of a task: `a.Succeeded && (b.Failed || c)`
DEPENDS_RESULTS: tuple[str, ...] = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned",
                                    "AnySucceeded", "AllFailed")
_DEPENDS_SPLIT = re.compile(r"&&|\|\||[!()\s]+")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def names(items: Any) -> set[str]:
    """The `name`s of a list of objects (parameters, artifacts, tasks)."""
    return {str(i["name"]) for i in as_list(items) if isinstance(i, dict) and "name" in i}


def spec_of(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """(field path, WorkflowSpec) of a Workflow-like object by its kind ({} when malformed), None
    for other kinds."""
    kind = as_dict(obj).get("kind")
    path = WORKFLOW_SPEC_PATH.get(kind) if isinstance(kind, str) else None
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = as_dict(node).get(key)
    return ".".join(path), as_dict(node)


def workflow_spec(doc: Document) -> dict[str, Any] | None:
    """The WorkflowSpec of a Workflow-like object, None for other kinds or a malformed one."""
    path = WORKFLOW_SPEC_PATH.get(doc.kind)
    if path is None or doc.api_version != ARGO_API_VERSION:
        return None
    node: Any = doc.obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def tags(text: str) -> Iterator[str]:
    """What every `{{…}}` tag of TEXT holds, stripped (`{{ inputs.parameters.x }}` -> `inputs.parameters.x`)."""
    if "{{" not in text:
        return
    for m in TAG.finditer(text):
        yield m.group(1).strip()


def strings(node: Any, path: str, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """(field path, string) of every string under node, not descending into `skip` keys."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in skip:
                yield from strings(value, f"{path}.{key}" if path else str(key), skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, f"{path}[{i}]", skip)


def depends_names(expression: str) -> list[str]:
    """Task names a `depends` expression mentions (`a.Succeeded || b` -> [a, b])."""
    out = []
    for token in _DEPENDS_SPLIT.split(expression):
        if not token:
            continue
        name, _, result = token.rpartition(".")
        out.append(name if name and result in DEPENDS_RESULTS else token)
    return out


def dependencies(task: dict[str, Any]) -> list[tuple[str, str]]:
    """(task name, field) of a DAG task's dependencies, from both syntaxes."""
    deps = [(str(d), "dependencies") for d in as_list(task.get("dependencies"))]
    if isinstance(task.get("depends"), str):
        deps += [(d, "depends") for d in depends_names(task["depends"])]
    return deps


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of a dependency graph (node -> what it depends on) as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


@dataclass(frozen=True)
class TemplateAt:
    """A template and its field path (`spec.templates[2]`, or an inline one)."""

    body: dict[str, Any]
    path: str

    @property
    def name(self) -> str:
        name = self.body.get("name")
        return name if isinstance(name, str) else ""

    def types(self) -> list[str]:
        return [t for t in TEMPLATE_TYPES if self.body.get(t) is not None]


def templates_at(spec: dict[str, Any], spec_path: str) -> list[TemplateAt]:
    """The named templates of a WorkflowSpec, with their field paths."""
    return [
        TemplateAt(t, f"{spec_path}.templates[{i}]")
        for i, t in enumerate(as_list(spec.get("templates")))
        if isinstance(t, dict)
    ]


@dataclass(frozen=True)
class Call:
    """Something that invokes a template: a step, a DAG task, a hook, an onExit."""

    body: dict[str, Any]  # the step/task/hook object (has template/templateRef/inline)
    path: str
    owner: TemplateAt | None  # the steps/dag template it belongs to; None for workflow-level hooks


@dataclass(frozen=True)
class Resolution:
    """Where a call's template came from: found, or why not."""

    template: dict[str, Any] | None
    missing: str = ""  # what could not be found, for the message
    external: bool = False  # the missing thing is another object (WorkflowTemplate), not a local template


@dataclass
class ArgoSet:
    """The WorkflowTemplates and ClusterWorkflowTemplates a document set defines."""

    namespaced: dict[str, Document] = field(default_factory=dict)
    cluster: dict[str, Document] = field(default_factory=dict)

    @classmethod
    def of(cls, docs: list[Document]) -> ArgoSet:
        index = cls()
        for doc in docs:
            if doc.api_version != ARGO_API_VERSION:
                continue
            name = as_dict(doc.obj.get("metadata")).get("name")
            if not isinstance(name, str):
                continue
            if doc.kind == "WorkflowTemplate":
                index.namespaced.setdefault(name, doc)
            elif doc.kind == "ClusterWorkflowTemplate":
                index.cluster.setdefault(name, doc)
        return index

    def lookup(self, name: Any, cluster_scope: Any) -> Document | None:
        if not isinstance(name, str):
            return None
        return (self.cluster if cluster_scope is True else self.namespaced).get(name)


def _templates_by_name(templates: list[TemplateAt]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in templates:
        if t.name and t.name not in out:
            out[t.name] = t.body
    return out


@dataclass
class WorkflowView:
    """One Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow."""

    doc: Document
    spec: dict[str, Any]
    spec_path: str
    argo_set: ArgoSet

    @classmethod
    def of(cls, doc: Document, argo_set: ArgoSet) -> WorkflowView | None:
        spec = workflow_spec(doc)
        if spec is None:
            return None
        return cls(doc, spec, ".".join(WORKFLOW_SPEC_PATH[doc.kind]), argo_set)

    # -- templates ---------------------------------------------------------
    def templates(self) -> list[TemplateAt]:
        """The spec's named templates."""
        return templates_at(self.spec, self.spec_path)

    def all_templates(self) -> Iterator[TemplateAt]:
        """Named templates and the inline templates of their steps/tasks, depth first."""
        for t in self.templates():
            yield from self._with_inline(t)

    def _with_inline(self, t: TemplateAt) -> Iterator[TemplateAt]:
        yield t
        for call in self.calls_of(t):
            inline = call.body.get("inline")
            if isinstance(inline, dict):
                yield from self._with_inline(TemplateAt(inline, f"{call.path}.inline"))

    def workflow_template_ref(self) -> dict[str, Any] | None:
        ref = self.spec.get("workflowTemplateRef")
        return ref if isinstance(ref, dict) else None

    def referenced_workflow(self) -> WorkflowView | None:
        """The WorkflowTemplate named by `workflowTemplateRef`, when it is in the set."""
        ref = self.workflow_template_ref()
        if ref is None:
            return None
        target = self.argo_set.lookup(ref.get("name"), ref.get("clusterScope"))
        return WorkflowView.of(target, self.argo_set) if target is not None else None

    def local_templates(self) -> dict[str, dict[str, Any]]:
        """Templates a `template:` name resolves to (own, then the referenced WorkflowTemplate's)."""
        own = _templates_by_name(self.templates())
        referenced = self.referenced_workflow()
        if referenced is not None:
            return _templates_by_name(referenced.templates()) | own
        return own

    # -- steps, tasks, hooks -------------------------------------------------
    def steps_of(self, t: TemplateAt) -> Iterator[tuple[int, Call]]:
        """(group index, step) of a steps template."""
        for g, group in enumerate(as_list(t.body.get("steps"))):
            for s, step in enumerate(as_list(group)):
                if isinstance(step, dict):
                    yield g, Call(step, f"{t.path}.steps[{g}][{s}]", t)

    def tasks_of(self, t: TemplateAt) -> list[Call]:
        dag = as_dict(t.body.get("dag"))
        return [
            Call(task, f"{t.path}.dag.tasks[{i}]", t)
            for i, task in enumerate(as_list(dag.get("tasks")))
            if isinstance(task, dict)
        ]

    def calls_of(self, t: TemplateAt) -> list[Call]:
        """Steps and tasks of a template, then their hooks."""
        calls = [c for _, c in self.steps_of(t)] + self.tasks_of(t)
        hooks = [h for c in calls for h in _hooks(c.body, c.path, t)]
        return calls + hooks

    def calls(self) -> Iterator[Call]:
        """Every template invocation in the object, with its path."""
        for t in self.all_templates():
            yield from self.calls_of(t)
            # a step's/task's `onExit: name` is a call by name
            for c in [c for _, c in self.steps_of(t)] + self.tasks_of(t):
                if isinstance(c.body.get("onExit"), str):
                    yield Call({"template": c.body["onExit"]}, f"{c.path}.onExit", t)
        if isinstance(self.spec.get("onExit"), str):
            yield Call({"template": self.spec["onExit"]}, f"{self.spec_path}.onExit", None)
        yield from _hooks(self.spec, self.spec_path, None)

    def resolve(self, call: Call) -> Resolution:
        """The template a call runs."""
        body = call.body
        if isinstance(body.get("inline"), dict):
            return Resolution(body["inline"])
        ref = body.get("templateRef")
        if isinstance(ref, dict):
            if not ref.get("name") or not ref.get("template"):
                return Resolution(None)  # argo.template-ref-fields reports it
            if "{{" in f"{ref.get('name')}{ref.get('template')}":
                return Resolution(None)  # resolved at run time: Argo skips it (validateTemplateHolder)
            scope = "ClusterWorkflowTemplate" if ref.get("clusterScope") is True else "WorkflowTemplate"
            target = self.argo_set.lookup(ref.get("name"), ref.get("clusterScope"))
            if target is None:
                return Resolution(None, f"{scope} {ref.get('name')!r}", external=True)
            view = WorkflowView.of(target, self.argo_set)
            found = _templates_by_name(view.templates()).get(ref.get("template")) if view else None
            if found is None:
                return Resolution(None, f"template {ref.get('template')!r} in {scope} {ref.get('name')!r}")
            return Resolution(found)
        name = body.get("template")
        if isinstance(name, str):
            found = self.local_templates().get(name)
            if found is not None:
                return Resolution(found)
            ref = self.workflow_template_ref()
            if ref is not None and self.referenced_workflow() is None:
                return Resolution(None, f"template {name!r} (WorkflowTemplate {ref.get('name')!r})", external=True)
            return Resolution(None, f"template {name!r}")
        return Resolution(None)  # nothing to resolve (schema reports malformed calls)


def _hooks(owner: dict[str, Any], path: str, template: TemplateAt | None) -> Iterator[Call]:
    for name, hook in as_dict(owner.get("hooks")).items():
        if isinstance(hook, dict):
            yield Call(hook, f"{path}.hooks.{name}", template)
