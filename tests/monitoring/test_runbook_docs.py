"""The operating docs hang together: the decision tree reaches every alert's runbook and links only
files that exist; docs/slo.md names every alert with its threshold's source."""

from __future__ import annotations

import re

import pytest

from tooling import repo
from tooling.manifests import monitoring

RUNBOOKS = repo.ROOT / "docs" / "runbooks"


@pytest.fixture(scope="module")
def alert_names(rendered) -> set[str]:
    return {r["alert"] for env in repo.ENVS for _, _, r in monitoring.alerts_of(rendered[env].docs)}


def test_decision_tree_reaches_every_alert_runbook_and_only_existing_files():
    tree = (RUNBOOKS / "troubleshooting.md").read_text()
    linked = set(re.findall(r"([\w/-]+\.md)", tree))
    assert {f"alerts/{p.name}" for p in (RUNBOOKS / "alerts").glob("*.md")} <= linked
    missing = [p for p in linked if not (RUNBOOKS / p).is_file() and not (repo.ROOT / p).is_file()]
    assert missing == []


def test_every_alert_has_one_runbook_and_an_slo_line(alert_names):
    runbooks = {p.read_text().splitlines()[0].removeprefix("# ").split(":")[0] for p in (RUNBOOKS / "alerts").glob("*.md")}
    assert runbooks == alert_names
    slo = (repo.ROOT / "docs" / "slo.md").read_text()
    assert [a for a in sorted(alert_names) if a not in slo] == []
