"""The one report type and its renderers (table, JSON, Markdown) on a report that passes, one with
errors, an empty one and one that could not run."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conformance.findings import Finding, Severity
from conformance.report import (
    FORMATS,
    Report,
    Section,
    cannot_run_report,
    output_format,
    render,
    render_json,
    render_markdown,
    render_table,
)
from tooling import repo

SCHEMA = json.loads((repo.SCHEMAS / "conformance-report.schema.json").read_text())
RULES = [{"id": "geozarr.a", "severity": "error", "summary": "a", "findings": 0, "seconds": 0.1},
         {"id": "geozarr.b", "severity": "warning", "summary": "b", "findings": 0, "seconds": 0.0,
          "skipped": "no GDAL"}]
WARNING = Finding("policy.tag", Severity.WARNING, "image by tag", "spec.image", env="prod",
                  file="base/x.yaml", kind="Deployment", name="web")
ERROR = Finding("argo.dag-cycle", Severity.ERROR, "a | b cycle", "spec.templates[0]", file="wf.yaml",
                kind="WorkflowTemplate", name="pipeline")


def valid() -> Report:
    return Report(kind="geozarr", target="s.zarr", rules=RULES, total_seconds=1.5,
                  io={"requests": 3, "bytes": 100})


def with_errors() -> Report:
    return Report(kind="validate", target="staging, prod", findings=[WARNING, ERROR],
                  extra={"envs": {"prod": {"documents": 2}}},
                  sections=[Section("tasks", ("task", "phase"), (("convert", "Failed"),)),
                            Section("staging: 1 object(s)", text="-a\n+b\n", lang="diff")],
                  notes=["prod: INVALID"])


def empty() -> Report:
    return Report(kind="lint", target="")


def test_verdicts_and_exit_codes() -> None:
    assert (valid().passed, valid().exit_code) == (True, 0)
    assert (with_errors().passed, with_errors().exit_code) == (False, 1)
    assert (empty().passed, empty().exit_code) == (True, 0)
    cannot = cannot_run_report("lint", "x", "no such file")
    assert (cannot.passed, cannot.exit_code, cannot.summary["error"]) == (False, 2, 1)
    differs = Report(kind="diff", target="HEAD", ok=False)  # failed beyond its findings
    assert (differs.exit_code, differs.verdict) == (1, "DIFFERS")


@pytest.mark.parametrize("make", [valid, with_errors, empty])
def test_json_is_the_schema_and_reads_back(make) -> None:
    report = make()
    data = json.loads(render_json(report))
    jsonschema.validate(data, SCHEMA)
    assert data["passed"] is report.passed and data["exit_code"] == report.exit_code
    assert data["summary"] == report.summary
    assert Report.from_dict(data).to_dict() == data


def test_json_of_errors_keeps_location_and_kind_fields() -> None:
    data = json.loads(render_json(with_errors()))
    assert data["summary"] == {"error": 1, "warning": 1, "info": 0}
    assert data["envs"] == {"prod": {"documents": 2}}
    assert {f["rule"]: f["file"] for f in data["findings"]} == {"policy.tag": "base/x.yaml",
                                                                "argo.dag-cycle": "wf.yaml"}
    assert all(set(f) == {"rule", "severity", "message", "path", "env", "file", "kind", "name", "check"}
               for f in data["findings"])


def test_json_of_a_run_that_could_not_run() -> None:
    data = json.loads(render_json(cannot_run_report("validate", "qa", "unknown env 'qa'")))
    jsonschema.validate(data, SCHEMA)
    assert data["error"] == "unknown env 'qa'" and data["exit_code"] == 2
    assert [(f["rule"], f["message"]) for f in data["findings"]] == [("cannot-run", "unknown env 'qa'")]
    assert Report.from_dict(data).findings == []  # the error is not read back as a second finding


def test_table_valid() -> None:
    assert render_table(valid()) == ("PASS geozarr s.zarr: 1 rules run, 1 skipped; 0 errors, 0 warnings, "
                                     "0 info; 1.50 s, 3 requests, 100 bytes read")


def test_table_with_errors_worst_first_then_sections_notes_verdict() -> None:
    lines = render_table(with_errors()).splitlines()
    assert lines[0].split() == ["SEVERITY", "RULE", "WHERE", "MESSAGE"]
    assert lines[1].startswith("error") and "wf.yaml WorkflowTemplate/pipeline spec.templates[0]" in lines[1]
    assert lines[2].startswith("warning") and "prod base/x.yaml Deployment/web spec.image" in lines[2]
    assert lines[3:] == ["== tasks", "task     phase", "convert  Failed", "== staging: 1 object(s)", "-a", "+b",
                         "prod: INVALID", "FAIL validate staging, prod: 1 errors, 1 warnings, 0 info"]


def test_table_empty_is_the_verdict_line() -> None:
    assert render_table(empty()) == "PASS lint : 0 errors, 0 warnings, 0 info"


def test_markdown_with_errors() -> None:
    md = render_markdown(with_errors())
    assert md.startswith("### FAIL: validate `staging, prod`\n\n1 errors, 1 warnings, 0 info\n")
    rows = [line for line in md.splitlines() if line.startswith(("| error", "| warning"))]
    assert rows[0].endswith("| a \\| b cycle |")  # a pipe in a message does not split the cell
    assert len(rows) == 2
    assert "**tasks**\n\n| task | phase |\n|---|---|\n| convert | Failed |" in md
    assert "```diff\n-a\n+b\n```" in md and md.endswith("- prod: INVALID")


def test_markdown_valid_and_empty() -> None:
    assert render_markdown(valid()).splitlines()[0] == "### PASS: geozarr `s.zarr`"
    assert "|" not in render_markdown(valid())  # no findings: no table
    assert render_markdown(empty()) == "### PASS: lint ``\n\n0 errors, 0 warnings, 0 info"


def test_render_dispatches_and_refuses_unknown_formats() -> None:
    for fmt in FORMATS:
        assert render(with_errors(), fmt)
    with pytest.raises(ValueError, match="unknown report format"):
        render(valid(), "xml")
    assert output_format("", as_json=True) == "json" and output_format("markdown", as_json=True) == "markdown"
    assert output_format() == "table"
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        output_format("xml")


def test_a_finding_read_back_with_an_unknown_severity_is_an_error() -> None:
    f = Finding.from_dict({"rule": "x", "severity": "fatal", "message": "m", "extra": 1})
    assert f.severity is Severity.ERROR and f.path == ""
