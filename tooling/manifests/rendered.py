"""The one rendered-set type: a rendered kustomization as documents that know their source file.

Every kustomization here sets `buildMetadata: [originAnnotations]`, so each rendered object carries
`config.kubernetes.io/origin` (`path:` of its source file, or `configuredIn:` for generated
objects), relative to the kustomization that was built. `from_rendered` turns that into the
document's `file` (relative to the repo) and removes the annotation, so that schema checks see the
object as the API server stores it minus kustomize's bookkeeping.
"""

from __future__ import annotations

import copy
import functools
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding
from tooling import repo, yamlio
from tooling.manifests.render import RenderError, kustomize

ORIGIN = "config.kubernetes.io/origin"
# the WorkflowTemplate `invoke conformance` runs (locally or on an env's Argo)
CONFORMANCE_TEMPLATE = "geozarr-conformance"


@dataclass
class Rendered:
    """One rendered kustomization: its documents, the findings of loading them, counts by kind."""

    name: str  # the env (staging, prod) or a label such as "base"
    directory: Path
    docs: list[Any] = field(default_factory=list)  # tooling.schema.documents.Document
    findings: list[Finding] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Any]:
        return [d for d in self.docs if d.kind in kinds]

    @classmethod
    def of(cls, name: str, objects: Iterable[dict[str, Any]], directory: Path | None = None) -> Rendered:
        """A rendered set made of plain objects (their file: the set's name)."""
        from tooling.schema.documents import Document

        docs = [Document(obj=o, file=name, index=i, line=None) for i, o in enumerate(objects)]
        return cls(name=name, directory=directory or repo.ROOT, docs=docs)

    @property
    def documents(self) -> tuple[dict[str, Any], ...]:
        """The rendered objects, as the API server gets them (minus kustomize's origin note)."""
        return tuple(d.obj for d in self.docs)

    def with_documents(self, objects: Iterable[dict[str, Any]]) -> Rendered:
        return Rendered.of(self.name, objects, self.directory)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((d.obj for d in self.docs
                     if d.kind == kind and (d.obj.get("metadata") or {}).get("name") == name), None)

    def workflow_template(self, name: str = CONFORMANCE_TEMPLATE) -> dict[str, Any]:
        doc = self.find("WorkflowTemplate", name)
        if doc is None:
            raise RenderError(f"overlay {self.name!r} renders no WorkflowTemplate {name!r}")
        return doc

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.docs:
            counts[d.kind or "(no kind)"] = counts.get(d.kind or "(no kind)", 0) + 1
        return dict(sorted(counts.items()))


def source_file(obj: dict[str, Any], directory: Path) -> str:
    """The repo-relative file an object came from (its origin annotation), else the kustomization."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    raw = (meta.get("annotations") or {}).get(ORIGIN) if isinstance(meta, dict) else None
    origin = _origin(raw) if isinstance(raw, str) else {}
    rel = origin.get("path") or origin.get("configuredIn") or "kustomization.yaml"
    if origin.get("repo"):  # a remote base: keep what kustomize says
        return f"{origin['repo']}//{rel}"
    return repo.relpath(Path(posixpath.normpath(str(directory / str(rel)))))


@functools.lru_cache(maxsize=1024)
def _origin(raw: str) -> dict[str, Any]:
    """The parsed origin annotation (objects of one file share it: parsed once; read-only)."""
    try:
        loaded = yamlio.load(raw)
    except yaml.YAMLError:
        loaded = None
    return loaded if isinstance(loaded, dict) else {}


def strip_origin(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of OBJ without kustomize's origin annotation (and without an emptied annotations map)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or ORIGIN not in (meta.get("annotations") or {}):
        return obj
    out = copy.copy(obj)
    out["metadata"] = dict(meta)
    annotations = {k: v for k, v in meta["annotations"].items() if k != ORIGIN}
    if annotations:
        out["metadata"]["annotations"] = annotations
    else:
        del out["metadata"]["annotations"]
    return out


@functools.cache
def loader_digest() -> str:
    """A digest of the code that turns a YAML text into documents and findings (this module, the
    YAML loader, the finding type, the repo paths): part of every key of loaded YAML."""
    import sys

    from conformance import findings
    from tooling.manifests import toolcache
    from tooling.schema import documents

    return toolcache.code_digest(sys.modules[__name__], documents, findings, yamlio, repo)


def from_rendered(text: str, directory: Path, name: str) -> Rendered:
    """Load `kubectl kustomize DIRECTORY` output; each document's `file` is its source file."""
    from tooling.schema.documents import Document, load_documents

    shown = f"{repo.relpath(directory)} (rendered)"
    docs, findings = load_documents(text, shown)
    located = [
        Document(obj=strip_origin(d.obj), file=source_file(d.obj, directory), index=d.index, line=None)
        for d in docs
    ]
    return Rendered(name=name, directory=directory, docs=located, findings=findings)


def render_env(env: str) -> Rendered:
    """ENV's overlay rendered by the real `kubectl kustomize`; RenderError when it cannot be."""
    try:
        directory = repo.overlay_dir(env)
    except ValueError as e:
        raise RenderError(str(e)) from e
    try:
        return from_rendered(kustomize(directory), directory, env)
    except RenderError as e:
        raise RenderError(f"cannot render overlay {env!r}: {e}") from e
