"""`invoke rollback`: back to the digest prod ran before, read from the git history of a
throw-away repository, with evidence from the loopback S3 report store that it once passed."""

from __future__ import annotations

import json

from tests.gitops.gitopskit import IMAGE, commit_all, report
from tooling.gitops import promote, rollback

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def history(clone, s3_server, *digests):
    """Past promotions, each committed (the merged promotion PRs: the same one-line change)."""
    path = clone / "overlays/prod/kustomization.yaml"
    for d in digests:
        path.write_text(promote.pin_digest(path.read_text(), IMAGE, d))
        commit_all(clone, f"Promote runner image {d} to prod")


def prod_pin(clone):
    return promote.current_ref((clone / "overlays/prod/kustomization.yaml").read_text(), IMAGE)


def test_history_lists_each_digest_once_newest_first(clone, s3_server):
    history(clone, s3_server, D1, D2, D3)
    (clone / "overlays/prod/kustomization.yaml").write_text(
        (clone / "overlays/prod/kustomization.yaml").read_text() + "# a comment\n")
    commit_all(clone, "comment only")
    pins = rollback.pinned_history(clone, "prod", IMAGE)
    assert [p.digest for p in pins][:3] == [D3, D2, D1]
    assert pins[0].subject == f"Promote runner image {D3} to prod"


def test_rolls_back_to_the_previous_digest_with_evidence(clone, s3_server, record, capsys, tmp_path):
    history(clone, s3_server, D1, D2)
    record(report(D1, "sha256:any-template", run_id="old-pass", age_hours=400))
    body = tmp_path / "body.md"
    code = rollback.main("prod", root=clone, s3=s3_server.client(), as_json=True, body_file=str(body))
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and prod_pin(clone) == D1 and out["previous"] == D2 and out["kind"] == "rollback"
    text = body.read_text()
    assert f"## Roll back prod to `{D1}`" in text and "passed on staging: `old-pass`" in text
    assert f"Promote runner image {D1} to prod" in text and "```diff" in text


def test_refuses_without_evidence_that_it_once_passed(clone, s3_server, record, capsys):
    history(clone, s3_server, D1, D2)
    record(report(D1, "sha256:t", passed=False))
    code = rollback.main("prod", root=clone, s3=s3_server.client())
    err = capsys.readouterr().err
    assert code == 1 and f"no passed staging conformance report for {D1}" in err and prod_pin(clone) == D2
    code = rollback.main("prod", root=clone, s3=s3_server.client(), force=True, reason="prod is down")
    assert code == 0 and prod_pin(clone) == D1


def test_to_a_digest_never_promoted_is_refused(clone, s3_server, capsys):
    history(clone, s3_server, D1, D2)
    assert rollback.main("prod", to=D3, root=clone, s3=s3_server.client()) == 1
    assert "was never pinned in this env's history" in capsys.readouterr().err
    assert rollback.main("prod", to=D2, root=clone, s3=s3_server.client()) == 1
    assert "already runs" in capsys.readouterr().err


def test_to_an_older_digest(clone, s3_server, record, capsys):
    history(clone, s3_server, D1, D2, D3)
    record(report(D1, "sha256:t"))
    assert rollback.main("prod", to=D1, root=clone, s3=s3_server.client()) == 0
    assert prod_pin(clone) == D1


def test_nothing_to_roll_back_to(clone, s3_server, capsys):
    assert rollback.main("prod", root=clone, s3=s3_server.client()) == 1
    assert "no earlier digest" in capsys.readouterr().err
