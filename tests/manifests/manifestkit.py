"""Helpers of the manifest tests: fixture files loaded as documents, or rendered for real."""

from __future__ import annotations

from pathlib import Path

from tooling.manifests.render import kustomize
from tooling.manifests.rendered import Rendered, from_rendered

FIXTURES = Path(__file__).parent / "fixtures"


def load_docs(path: Path) -> list:
    from tooling.schema.documents import load_documents

    docs, problems = load_documents(path.read_text(), str(path.relative_to(FIXTURES)))
    assert not problems, problems
    return docs


def render_dir(directory: Path, name: str = "test") -> Rendered:
    """A fixture kustomization rendered by the real `kubectl kustomize`."""
    return from_rendered(kustomize(directory), directory, name)
