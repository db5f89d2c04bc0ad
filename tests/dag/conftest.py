"""Fixtures of the conformance-DAG tests: tiny WorkflowTemplates whose steps are real small
processes, the rendered overlays, and the loopback S3 server."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tooling.dag.executor import LocalRun, RunResult
from tooling.dag.model import read_workflow_template
from tooling.dag.pods import Objects
from tooling.manifests.rendered import Rendered, render_env


@pytest.fixture
def run_tiny(tmp_path: Path) -> Callable[..., RunResult]:
    def run(doc: dict[str, Any], *, parallelism: int = 2, extra_docs: tuple[dict[str, Any], ...] = (),
            secrets: dict[str, dict[str, str]] | None = None, **kwargs: Any) -> RunResult:
        spec = read_workflow_template(doc)
        rendered = Rendered.of("test", (doc, *extra_docs))
        return LocalRun(spec, Objects(rendered, secrets or {}), tmp_path / "run",
                        parallelism=parallelism, **kwargs).execute()

    return run


@pytest.fixture(scope="session")
def rendered_staging() -> Rendered:
    return render_env("staging")


@pytest.fixture(scope="session")
def rendered_prod() -> Rendered:
    return render_env("prod")


@pytest.fixture
def staging_copy(rendered_staging: Rendered) -> Rendered:
    """A deep copy of the rendered staging set, for tests that plant a defect in it."""
    return rendered_staging.with_documents(copy.deepcopy(list(rendered_staging.documents)))


@pytest.fixture(scope="session")
def e2e_run(rendered_staging: Rendered, tmp_path_factory: pytest.TempPathFactory):
    """ONE real local run of the staging conformance DAG (144 px sample, real conversion, S3 API on
    loopback, real checks), shared by every end-to-end assertion. The steps' STAC schema cache is
    seeded from ../shared (as the image's is by its build) and reaches the steps as the
    workstation's cache, so check-stac validates every extension."""
    import shutil

    from tooling.dag.localrun import run_local
    from tooling.repo import SHARED

    cache = tmp_path_factory.mktemp("stac-schemas")
    shutil.copytree(SHARED / "schemas" / "stac", cache, dirs_exist_ok=True)
    # the workstation's cache (what `conformance.stac.prefetch` fills) stands in for the image's
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEOZARR_STAC_SCHEMA_CACHE", str(cache))
        return run_local("staging", size=144, parallelism=2, rendered=rendered_staging)
