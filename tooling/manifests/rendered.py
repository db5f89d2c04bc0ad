"""A rendered env as documents that know their source file.

Every kustomization here sets `buildMetadata: [originAnnotations]`, so each rendered object carries
`config.kubernetes.io/origin` (`path:` of its source file, or `configuredIn:` for generated
objects), relative to the kustomization that was built. `from_rendered` turns that into the
document's `file` (relative to the repo) and removes the annotation, so that schema checks see the
object as the API server stores it minus kustomize's bookkeeping.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding
from tooling import repo

ORIGIN = "config.kubernetes.io/origin"


@dataclass
class Rendered:
    """One rendered kustomization: its documents, the findings of loading them, counts by kind."""

    name: str  # the env (staging, prod) or a label such as "base"
    directory: Path
    docs: list[Any] = field(default_factory=list)  # tooling.schema.documents.Document
    findings: list[Finding] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Any]:
        return [d for d in self.docs if d.kind in kinds]

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.docs:
            counts[d.kind or "(no kind)"] = counts.get(d.kind or "(no kind)", 0) + 1
        return dict(sorted(counts.items()))


def source_file(obj: dict[str, Any], directory: Path) -> str:
    """The repo-relative file an object came from (its origin annotation), else the kustomization."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    raw = (meta.get("annotations") or {}).get(ORIGIN) if isinstance(meta, dict) else None
    origin: dict[str, Any] = {}
    if isinstance(raw, str):
        try:
            loaded = yaml.safe_load(raw)
        except yaml.YAMLError:
            loaded = None
        origin = loaded if isinstance(loaded, dict) else {}
    rel = origin.get("path") or origin.get("configuredIn") or "kustomization.yaml"
    if origin.get("repo"):  # a remote base: keep what kustomize says
        return f"{origin['repo']}//{rel}"
    return repo.relpath(Path(posixpath.normpath(str(directory / str(rel)))))


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
