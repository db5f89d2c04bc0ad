"""The runner image as the rendered manifests name it (never spelled in Python).

Every step of the pipeline's WorkflowTemplates runs the runner image, so the one image repository
their containers run is the runner's; its last path segment is the image's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from tooling import repo
from tooling.manifests.render import RenderError, kustomize
from tooling.manifests.workloads import containers


def repository(image: str) -> str:
    """IMAGE without its digest and tag: `ghcr.io/x/runner@sha256:…` -> `ghcr.io/x/runner`."""
    name = image.split("@", 1)[0]
    head, sep, last = name.rpartition("/")
    return head + sep + last.split(":", 1)[0]


def workflow_images(docs: Sequence[Any]) -> set[str]:
    """The images the rendered WorkflowTemplates' containers run."""
    return {str(c.spec.get("image") or "") for d in docs if d.kind == "WorkflowTemplate"
            for c in containers(d.obj)} - {""}


def runner_image(docs: Sequence[Any]) -> str:
    """The one image (repository with tag or digest) the rendered WorkflowTemplates run."""
    images = workflow_images(docs)
    if len({repository(i) for i in images}) != 1 or len(images) != 1:
        raise RenderError(f"the WorkflowTemplates run {len(images)} images ({', '.join(sorted(images))}): "
                          "expected the runner image only")
    return images.pop()


@lru_cache(maxsize=1)
def runner_name() -> str:
    """The runner image's name (last path segment of its repository), read from the rendered base."""
    from tooling.manifests.rendered import from_rendered

    base = from_rendered(kustomize(repo.BASE), repo.BASE, "base")
    return repository(runner_image(base.docs)).rsplit("/", 1)[-1]
