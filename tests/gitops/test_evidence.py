"""The report store: `invoke conformance --env staging` (cluster mode, fake API client: no API
server exists here) records its completed report by image digest on the loopback S3, and
`evidence.load` reads it back as the gate does."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import jsonschema
import pytest

from tests.gitops.gitopskit import IMAGE
from tooling import repo
from tooling.dag.cli import run_cluster
from tooling.dag.progress import Progress
from tooling.dag.provenance import rendered_hash
from tooling.envconfig import EnvConfig
from tooling.gitops import evidence, promote
from tooling.manifests.images import runner_image
from tooling.manifests.render import kustomize
from tooling.manifests.rendered import from_rendered

D = "sha256:" + "d" * 64
NAME = "geozarr-conformance-q9z8w"
TASKS = ("sample", "convert", "check-geozarr", "build-stac", "check-stac", "report")


class FakeClient:
    """The API server's answers for one workflow that succeeds at once."""

    def create_workflow(self, namespace, wf):
        return {**wf, "metadata": {**wf["metadata"], "name": NAME}}

    def get_workflow(self, namespace, name):
        nodes = {f"n{i}": {"displayName": t, "type": "Retry", "phase": "Succeeded",
                           "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:04Z"}
                 for i, t in enumerate(TASKS)}
        return {"metadata": {"name": NAME}, "status": {"phase": "Succeeded", "nodes": nodes}}


@pytest.mark.fake_cluster
def test_a_cluster_run_records_its_report_by_digest(clone, s3_server, s3_bucket, s3_env):
    assert promote.main(D, "staging", root=clone) == 0  # what the image workflow's PR does
    overlay = clone / "overlays/staging"
    rendered = from_rendered(kustomize(overlay), overlay, "staging")
    template = rendered.workflow_template()
    cfg = EnvConfig("staging", "ctx", "geozarr-staging", s3_bucket, "geozarr", s3_server.endpoint,
                    "https://stac.example", "geozarr/conformance", runner_image=runner_image(rendered.docs))
    step = {"kind": "conformance", "passed": True, "findings": [], "checks": {}}
    s3 = s3_server.client()
    s3.put_object(Bucket=s3_bucket, Key=f"geozarr/conformance/{NAME}/report.json",
                  Body=json.dumps(step).encode())
    stream = io.StringIO()
    out = run_cluster(cfg, template, FakeClient(), Progress(stream=stream), size=144,
                      sleep=lambda _: None, s3=s3)
    assert out.exit_code == 0
    key = f"geozarr/conformance/evidence/{'d' * 64}/{NAME}.json"
    assert key in s3_server.keys(s3_bucket, "geozarr/conformance/evidence/")
    assert f"evidence recorded at s3://{s3_bucket}/{key}" in stream.getvalue()
    recorded = json.loads(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    schema = json.loads((repo.SCHEMAS / "conformance-report.schema.json").read_text())
    jsonschema.validate(recorded, schema, format_checker=jsonschema.FormatChecker())
    assert recorded["image_digest"] == D and recorded["image"].endswith(f"@{D}")
    (ev,) = evidence.load(s3, s3_bucket, "geozarr/conformance", D)
    assert ev.passed and ev.image_digest == D and ev.run_id == NAME and ev.conversions == 1
    assert ev.rendered_hash == rendered_hash(template)
    assert (datetime.now(UTC) - ev.finished_at).total_seconds() < 600
    assert evidence.digests(s3, s3_bucket, "geozarr/conformance") == [D]


def test_a_report_without_digest_is_not_evidence(s3_server, s3_bucket):
    rep = evidence.stamp({"run_id": "r", "passed": True, "image": f"{IMAGE}:0.1.0"}, IMAGE)
    assert rep["image_digest"] == ""
    assert evidence.record(rep, s3_bucket, "geozarr/conformance", s3_server.client()) == ""
    assert s3_server.keys(s3_bucket) == []


@pytest.mark.parametrize(("images", "digest"), [
    (f"{IMAGE}@{D}", D),
    (f"{IMAGE}:0.1.0@{D}", D),
    (f"docker.io/library/busybox@{'sha256:' + 'e' * 64}, {IMAGE}@{D}", D),
    (f"{IMAGE}:0.1.0", ""),
    (f"ghcr.io/other/image@{D}", ""),
])
def test_runner_digest(images, digest):
    assert evidence.runner_digest(images, IMAGE) == digest
