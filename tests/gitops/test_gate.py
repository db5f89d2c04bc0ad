"""The evidence gate of `invoke promote`: staging reports recorded on the loopback S3 report
store, a throw-away git repository as the checkout. Cases: missing, failed, too fresh, other
digest, other template, not enough conversions, a failure after the pass, ok, --force."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.gitops.gitopskit import IMAGE, NOW, commit_all, report
from tooling.dag.provenance import rendered_hash
from tooling.gitops import gate, promote
from tooling.manifests.render import kustomize
from tooling.manifests.rendered import from_rendered

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.fixture
def expected(clone):
    return gate.expected_hash(clone, "staging", D1, IMAGE)


def run(clone, s3_server, capsys, *args, **kwargs):
    code = promote.main(D1, "prod", *args, root=clone, s3=s3_server.client(), now=NOW,
                        as_json=True, **kwargs)
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else {}), out.err


def prod_pin(clone) -> str:
    return promote.current_ref((clone / "overlays/prod/kustomization.yaml").read_text(), IMAGE)


def test_expected_hash_is_what_staging_records_when_it_runs_the_digest(clone, expected):
    """The image workflow pins staging (no gate), the cluster runs that render, its report's
    rendered_hash is what `invoke conformance --env staging` computes: the gate expects it."""
    assert promote.main(D1, "staging", root=clone) == 0
    overlay = clone / "overlays/staging"
    template = from_rendered(kustomize(overlay), overlay, "staging").workflow_template()
    assert rendered_hash(template) == expected
    assert gate.expected_hash(clone, "staging", D2, IMAGE) != expected


def test_missing(clone, s3_server, capsys):
    code, out, err = run(clone, s3_server, capsys)
    assert code == 1 and "no staging conformance report for " + D1 in out["missing"][0]
    assert "refused" in err and "--force" in err
    assert prod_pin(clone) != D1


def test_other_digest(clone, s3_server, capsys, record):
    record(report(D2, "sha256:whatever"))
    code, out, _ = run(clone, s3_server, capsys)
    assert code == 1 and f"holds reports for: {D2[:19]}" in out["missing"][0]


def test_failed(clone, s3_server, capsys, record, expected):
    record(report(D1, expected, passed=False))
    code, out, _ = run(clone, s3_server, capsys)
    assert code == 1 and out["missing"][0].startswith("no passed staging report")
    assert "transform is not its parent's scaled" in out["missing"][0]


def test_too_fresh(clone, s3_server, capsys, record, expected):
    record(report(D1, expected, age_hours=3, run_id="r1"))
    for i in range(2):
        record(report(D1, expected, age_hours=2 - i, run_id=f"r{i + 2}"))
    code, out, _ = run(clone, s3_server, capsys)
    assert code == 1 and len(out["missing"]) == 1
    assert out["missing"][0].startswith("too fresh: the first passed staging report (r1) is 3.0 h old")


def test_other_template(clone, s3_server, capsys, record):
    record(report(D1, "sha256:" + "f" * 64))
    code, out, _ = run(clone, s3_server, capsys)
    assert code == 1 and "none for the conformance template this commit renders" in out["missing"][0]


def test_not_enough_conversions_since(clone, s3_server, capsys, record, expected):
    record(report(D1, expected, age_hours=30, run_id="r1"))
    record(report(D1, expected, age_hours=20, run_id="r2"))
    record(report(D1, expected, age_hours=10, run_id="r3", convert="Failed", passed=False))
    code, out, _ = run(clone, s3_server, capsys)
    assert code == 1
    assert any("failed after the first pass, the last r3" in m for m in out["missing"])
    assert any("2 successful staging conversion(s) needed since r1, found 1" in m for m in out["missing"])


def test_ok_pins_prod_and_writes_the_evidence_and_diff_into_the_body(clone, s3_server, capsys, record,
                                                                    expected, tmp_path):
    for i, age in enumerate((30, 20, 10)):
        record(report(D1, expected, age_hours=age, run_id=f"r{i + 1}"))
    record(report(D2, "sha256:other"))
    body_file = tmp_path / "body.md"
    code, out, err = run(clone, s3_server, capsys, body_file=str(body_file))
    assert code == 0, err
    assert out["missing"] == [] and out["gate"]["ok"] and out["gate"]["first_pass"]["run_id"] == "r1"
    assert [e["run_id"] for e in out["gate"]["since"]] == ["r2", "r3"]
    assert prod_pin(clone) == D1
    # every object that runs the runner image moves with the pin: the templates, the cron jobs
    assert {(c["kind"], c["status"]) for c in out["diff"]} <= {("WorkflowTemplate", "changed"),
                                                              ("CronWorkflow", "changed")}
    assert ("WorkflowTemplate", "changed") in {(c["kind"], c["status"]) for c in out["diff"]}
    body = body_file.read_text()
    assert out["body"] == body
    assert f"## Promote prod to `{D1}`" in body and "first passed report: `r1`" in body
    assert "overridden" not in body and "```diff" in body and f"@{D1}" in body
    images = yaml.safe_load((clone / "overlays/prod/kustomization.yaml").read_text())["images"]
    assert images == [{"name": IMAGE, "digest": D1}]


def test_force_needs_a_reason_and_puts_it_in_the_body(clone, s3_server, capsys, tmp_path):
    code, _, err = run(clone, s3_server, capsys, force=True)
    assert code == 2 and "--force needs --reason" in err and prod_pin(clone) != D1
    body_file = tmp_path / "body.md"
    code, out, _ = run(clone, s3_server, capsys, force=True, reason="CVE fix, staging is down",
                       body_file=str(body_file))
    assert code == 0 and out["forced"] and out["reason"] == "CVE fix, staging is down"
    body = body_file.read_text()
    assert "Evidence gate overridden" in body and "Reason: CVE fix, staging is down" in body
    assert "no staging conformance report for" in body
    assert prod_pin(clone) == D1


def test_the_store_unreachable_cannot_run(clone, capsys):
    from tests.fixtures_s3 import FailingHTTPServer
    from tooling.dag.objectstore import s3_client

    with FailingHTTPServer(500) as server:
        s3 = s3_client(server.endpoint, {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
        code = promote.main(D1, "prod", root=clone, s3=s3, now=NOW)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("promote: cannot list s3://") and "Traceback" not in err


def test_a_bad_policy_cannot_run(clone, capsys):
    policy = clone / "overlays/prod/promotion.yaml"
    policy.write_text(policy.read_text().replace("soak_hours: 24", "soak_hours: a day"))
    commit_all(clone, "bad policy")
    assert promote.main(D1, "prod", root=clone, now=NOW) == 2
    assert "soak_hours: 'a day' is not of type 'number'" in capsys.readouterr().err


def test_staging_has_no_gate(clone, capsys):
    assert promote.main(D1, "staging", root=clone) == 0
    assert promote.current_ref((clone / "overlays/staging/kustomization.yaml").read_text(), IMAGE) == D1


def test_validate_checks_the_policy(clone):
    assert gate.check_policy("prod", clone) == [] and gate.check_policy("staging", clone) == []
    policy = clone / "overlays/prod/promotion.yaml"
    policy.write_text(policy.read_text() + "soak_days: 1\n")
    (finding,) = gate.check_policy("prod", clone)
    assert finding.rule == "promotion.policy" and finding.env == "prod"
    assert "soak_days" in finding.message and finding.file.endswith("overlays/prod/promotion.yaml")
