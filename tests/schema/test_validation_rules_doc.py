"""docs/validation-rules.md lists every rule `invoke validate` runs, with its severity."""

from __future__ import annotations

import re

from tooling import repo
from tooling.manifests.validate import rules

DOC = repo.ROOT / "docs" / "validation-rules.md"
ROW = re.compile(r"^\| `([a-z][-a-z.]+)` \| (.+?) \| (error|warning|info) \| .+ \|$")


def test_the_table_lists_every_registered_rule_with_its_severity() -> None:
    rows = {m.group(1): (m.group(2), m.group(3)) for m in map(ROW.match, DOC.read_text().splitlines()) if m}
    assert {r.id: str(r.severity) for r in rules()} == {rule: severity for rule, (_, severity) in rows.items()}
    assert all(source.strip() and source != "?" for source, _ in rows.values())


def test_every_ported_argo_rule_names_its_go_function() -> None:
    rows = {m.group(1): m.group(2) for m in map(ROW.match, DOC.read_text().splitlines()) if m}
    ported = [rule for rule in rows if rule.startswith("argo.") and rule != "argo.needs-cluster-object"]
    assert ported and all("validate.go" in rows[rule] for rule in ported)
