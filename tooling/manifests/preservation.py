"""Overlay preservation: an overlay may change values, never silently drop structure.

The reference is `kubectl kustomize base`. For every Argo workflow document of the base, the
rendered env must still have it, with every template (of the same type), every DAG task and
step, every workflow/input/output parameter, and a non-empty image, command and args wherever the
base has them. The classic break: a strategic-merge patch on a WorkflowTemplate replaces
`spec.templates` wholesale (kustomize knows no merge keys for CRDs), leaving one template behind.

A finding names the overlay file that most likely did it: the patch targeting the resource
(else the overlay's kustomization.yaml), the resource, and the field path as it is in the base.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo, yamlio
from tooling.argo import TEMPLATE_TYPES, WORKFLOW_KINDS, as_dict, as_list, spec_of
from tooling.manifests.workloads import templates

STRUCTURE = Rule("preservation.structure", Severity.ERROR,
                 "every base template, DAG task, parameter and image survives each overlay")

def _named(items: Any) -> dict[str, dict[str, Any]]:
    return {str(i["name"]): i for i in as_list(items) if isinstance(i, dict) and i.get("name") is not None}


def _param_names(section: Any) -> set[str]:
    return set(_named(as_dict(section).get("parameters")))


def _steps(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for group in as_list(template.get("steps")):
        out.update(_named(group))
    return out


def _structure(obj: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(field path, what, value) of every structural element of an Argo document, by name."""
    found = spec_of(obj)
    if found is None:
        return
    spath, spec = found
    for name, p in _named(as_dict(spec.get("arguments")).get("parameters")).items():
        yield f"{spath}.arguments.parameters[name={name}]", f"workflow parameter {name!r}", p
    for _, t in templates(obj):
        tname = str(t.get("name", ""))
        tpath = f"{spath}.templates[name={tname}]"
        kind = next((k for k in TEMPLATE_TYPES if k in t), "")
        yield tpath, f"template {tname!r}", t
        if kind:
            yield f"{tpath}.{kind}", f"the {kind} of template {tname!r}", t[kind]
        for section in ("inputs", "outputs"):
            for p in sorted(_param_names(t.get(section))):
                yield f"{tpath}.{section}.parameters[name={p}]", f"{section[:-1]} parameter {p!r} of template {tname!r}", p
        for task_name, task in _named(as_dict(t.get("dag")).get("tasks")).items():
            yield f"{tpath}.dag.tasks[name={task_name}]", f"DAG task {task_name!r}", task
            yield (f"{tpath}.dag.tasks[name={task_name}].template", f"the template of DAG task {task_name!r}",
                   task.get("template") or task.get("templateRef"))
        for step_name, step in _steps(t).items():
            yield f"{tpath}.steps[name={step_name}]", f"step {step_name!r}", step
        for field in ("container", "script"):
            c = as_dict(t.get(field))
            for attr in ("image", "command", "args", "source"):
                if attr in c:
                    yield f"{tpath}.{field}.{attr}", f"the {attr} of template {tname!r}", c[attr]
        for cname, c in _named(as_dict(t.get("containerSet")).get("containers")).items():
            yield f"{tpath}.containerSet.containers[name={cname}].image", f"the image of container {cname!r}", c.get("image")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def lost_structure(base_obj: dict[str, Any], rendered_obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) for each element of BASE_OBJ missing or emptied in RENDERED_OBJ."""
    after = {path: value for path, _, value in _structure(rendered_obj)}
    lost = []
    for path, what, value in _structure(base_obj):
        if path not in after:
            lost.append((path, f"{what} is missing"))
        elif not _empty(value) and _empty(after[path]):
            lost.append((path, f"{what} is empty"))
    # report the outermost loss only (a lost template implies its tasks and images)
    kept: list[tuple[str, str]] = []
    for path, message in lost:
        if not any(path.startswith(p + ".") for p, _ in kept):
            kept.append((path, message))
    return kept


def _target_matches(target: dict[str, Any], kind: str, name: str) -> bool:
    if target.get("kind") and target["kind"] != kind:
        return False
    if target.get("name"):
        try:
            return re.fullmatch(str(target["name"]), name) is not None
        except re.error:
            return target["name"] == name
    return bool(target)


def _load_patch(entry: dict[str, Any], base_dir: Path) -> list[Any]:
    """The documents of a patch entry (its file or its inline text)."""
    try:
        if entry.get("path"):
            return list(yamlio.load_all((base_dir / str(entry["path"])).read_text()))
        inline = entry.get("patch")
        return list(yamlio.load_all(inline)) if isinstance(inline, str) else [inline]
    except (OSError, yaml.YAMLError):
        return []


@dataclass(frozen=True)
class Patch:
    file: str  # repo-relative: the patch file, or the kustomization holding an inline patch
    docs: tuple[Any, ...]

    def touches(self, lost: str) -> bool:
        """Could this patch have removed LOST (a field path like `spec.templates[name=main].dag`)?

        A strategic-merge patch that sets the list LOST is in replaces that list wholesale; a
        JSON6902 operation removes or replaces the list, one of its elements, or the lost field."""
        field = _list_field(lost)
        tail = lost.split("]", 1)[1].replace(".", "/") if "]" in lost else ""
        pointer = "/" + field.replace(".", "/")
        element = re.compile(re.escape(pointer) + r"(/(\d+|-))?")
        for doc in self.docs:
            if isinstance(doc, dict):
                node: Any = doc
                for part in field.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                if node is not None:
                    return True
            elif isinstance(doc, list):
                for op in doc:
                    if not isinstance(op, dict) or op.get("op") not in ("remove", "replace", "move"):
                        continue
                    at = str(op.get("from") if op.get("op") == "move" else op.get("path", ""))
                    if element.fullmatch(at) or (tail and at.startswith(pointer) and at.endswith(tail)):
                        return True
        return False


def patches_for(kustomization_dir: Path, kind: str, name: str) -> list[Patch]:
    """The patches in KUSTOMIZATION_DIR (and its components) that target KIND/NAME."""
    kfile = next((kustomization_dir / n for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
                  if (kustomization_dir / n).is_file()), None)
    if kfile is None:
        return []
    try:
        k = as_dict(yamlio.load(kfile.read_text()))
    except (OSError, yaml.YAMLError):
        return []
    found: list[Patch] = []
    entries = [as_dict(p) for p in as_list(k.get("patches")) + as_list(k.get("patchesJson6902"))]
    entries += [{"path": p} if isinstance(p, str) else {"patch": p} for p in as_list(k.get("patchesStrategicMerge"))]
    for entry in entries:
        target = as_dict(entry.get("target"))
        docs = _load_patch(entry, kustomization_dir)
        if target:
            hit = _target_matches(target, kind, name)
        else:
            hit = any(isinstance(d, dict) and d.get("kind") == kind and as_dict(d.get("metadata")).get("name") == name
                      for d in docs)
        if hit:
            file = kustomization_dir / str(entry["path"]) if entry.get("path") else kfile
            found.append(Patch(repo.relpath(file), tuple(docs)))
    for component in as_list(k.get("components")):
        found += patches_for((kustomization_dir / str(component)).resolve(), kind, name)
    return found


def _list_field(path: str) -> str:
    """`spec.templates[name=main].dag` -> `spec.templates`: the list whose element was lost."""
    return path.split("[", 1)[0]


def blame(patches: Sequence[Patch], path: str, default: str) -> str:
    """The file of the patch that most likely removed PATH: one that sets or removes its list."""
    touching = [p for p in patches if p.touches(path)]
    return (touching or list(patches) or [Patch(default, ())])[0].file


def check_preservation(base_docs: Sequence[Any], env_docs: Sequence[Any], env: str, overlay: Path) -> list[Finding]:
    """Findings for every base Argo structure the rendered ENV (from OVERLAY) lost."""
    rendered = {(d.kind, d.name): d for d in env_docs}
    out = []
    for base in base_docs:
        if base.kind not in WORKFLOW_KINDS:
            continue
        patches = patches_for(overlay, base.kind, base.name)
        kustomization = repo.relpath(overlay / "kustomization.yaml")
        where = {"env": env, "kind": base.kind, "name": base.name}
        doc = rendered.get((base.kind, base.name))
        if doc is None:
            out.append(STRUCTURE.finding(f"{base.kind} {base.name} from {base.file} is missing from the rendered {env} env",
                                         file=kustomization, **where))
            continue
        for path, message in lost_structure(base.obj, doc.obj):
            file = blame(patches, path, kustomization)
            out.append(STRUCTURE.finding(
                f"{message} after rendering {env} (patched by {file}); {base.file} has it. Overlays change "
                "values, never structure: strategic-merge patches replace Argo lists wholesale, use JSON6902",
                path=path, file=file, **where))
    return out
