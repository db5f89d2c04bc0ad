"""The rendered env the DAG runs from: real `kubectl kustomize` of an overlay, the
`geozarr-conformance` WorkflowTemplate picked out of it, and the objects it references.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from tooling import repo
from tooling.manifests import render as manifests_render

TEMPLATE_NAME = "geozarr-conformance"


class RenderError(Exception):
    """The overlay cannot be rendered, or does not hold the template."""


def render_overlay(overlay: str) -> str:
    """The overlay's manifests as one YAML stream (the one renderer: `tooling.manifests.render`)."""
    try:
        return manifests_render.render(overlay)
    except (manifests_render.RenderError, ValueError) as e:
        raise RenderError(f"cannot render overlay {overlay!r}: {e}") from e


@dataclass(frozen=True)
class RenderedSet:
    """The rendered objects of one overlay."""

    overlay: str
    documents: tuple[dict[str, Any], ...]

    @classmethod
    def from_yaml(cls, overlay: str, text: str) -> RenderedSet:
        docs = tuple(d for d in yaml.safe_load_all(text) if isinstance(d, dict))
        return cls(overlay, docs)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        for d in self.documents:
            if d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name:
                return d
        return None

    def workflow_template(self, name: str = TEMPLATE_NAME) -> dict[str, Any]:
        doc = self.find("WorkflowTemplate", name)
        if doc is None:
            raise RenderError(f"overlay {self.overlay!r} renders no WorkflowTemplate {name!r}")
        return doc

    def with_documents(self, documents: Iterable[dict[str, Any]]) -> RenderedSet:
        return RenderedSet(self.overlay, tuple(documents))


def render(overlay: str) -> RenderedSet:
    return RenderedSet.from_yaml(overlay, render_overlay(overlay))


def rendered_hash(doc: dict[str, Any]) -> str:
    """sha256 of a rendered object, over its canonical JSON (key order and YAML style don't count)."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def git_revision() -> str:
    """The checkout's commit, `+dirty` when the working tree differs from it; "" without git."""
    try:
        sha = subprocess.run(["git", "-C", str(repo.ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, check=False)
        if sha.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "-C", str(repo.ROOT), "status", "--porcelain", "--",
                                "base", "overlays", "components"],
                               capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
