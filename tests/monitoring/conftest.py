"""Shared fixtures of the monitoring tests: the envs rendered once (real kustomize), the sealing
key of the committed SealedSecrets (helpers: monitoringkit.py)."""

from __future__ import annotations

import pytest

from tooling import repo
from tooling.manifests.render import kustomize
from tooling.manifests.rendered import Rendered, from_rendered


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    """Every env rendered by the real `kubectl kustomize`."""
    return {env: from_rendered(kustomize(repo.overlay_dir(env)), repo.overlay_dir(env), env) for env in repo.ENVS}


@pytest.fixture(scope="session")
def fixtures_key() -> bytes:
    """The THROWAWAY sealing key the committed SealedSecrets are sealed for (placeholders)."""
    return (repo.ROOT / "tests" / "manifests" / "fixtures" / "sealing" / "tls.key").read_bytes()
