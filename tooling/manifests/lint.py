"""`invoke lint PATH`: Argo's CRD schema (and CEL rules) + validate.go's rules on standalone manifests,
like `argo lint --offline` (no policy, no cluster).

PATH is a file or a directory searched recursively for *.yaml / *.yml. Every
Argo document (Workflow, WorkflowTemplate, ClusterWorkflowTemplate,
CronWorkflow, WorkflowEventBinding) is checked against Argo v4.0.9's own CRD
and the semantic rules; `templateRef`s resolve across all the files given, and,
as with `argo lint`, one that none of them defines is an error. Other
documents are ignored (and counted). YAML errors in any file are findings.

Exit 0 clean (notes allowed), 1 error findings, 2 cannot run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from conformance import findings as findings_mod
from conformance.findings import Finding, Severity
from conformance.report import Report
from tooling.manifests import stdout
from tooling.repo import TARGET_KUBERNETES_VERSION, relpath

YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(path: Path) -> list[Path]:
    """The file itself, or every YAML file under the directory (sorted, hidden folders skipped)."""
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*")
        if p.suffix in YAML_SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def lint_paths(files: list[Path]) -> tuple[list[Finding], dict[str, Any]]:
    """Findings and summary for a set of files linted together."""
    from tooling.argo import ARGO_GROUP
    from tooling.schema.check import check_documents, crd_checker
    from tooling.schema.documents import read_documents

    found: list[Finding] = []
    argo_docs = []
    ignored: Counter[str] = Counter()
    skipped: list[dict[str, str]] = []
    checker = crd_checker(TARGET_KUBERNETES_VERSION)
    for path in files:
        docs, yaml_findings = read_documents(path, relpath(path))
        found += yaml_findings
        for doc in docs:
            if doc.group == ARGO_GROUP and checker.knows(doc):
                argo_docs.append(doc)
            elif doc.group == ARGO_GROUP:
                skipped.append(doc.where() | {"path": "", "reason": f"no schema for Argo kind {doc.kind or '?'} ({doc.api_version})"})
            else:
                ignored[doc.kind or "?"] += 1
    schema_findings, schema_summary = check_documents(
        argo_docs, TARGET_KUBERNETES_VERSION, standalone=True, refs_must_resolve=True
    )
    found += schema_findings
    summary = {
        "files": len(files),
        "documents": len(argo_docs),
        "checked": schema_summary["checked"],
        "ignored": dict(sorted(ignored.items())),
        "skipped": skipped + schema_summary["skipped"],
        "findings": findings_mod.count_by_severity(found),
    }
    return found, summary


def lint_report(target: str, found: list[Finding], summary: dict[str, Any]) -> Report:
    """The lint run as the one report (kind `lint`; files, documents, checked, ignored and
    skipped at the top of its JSON)."""
    checked = ", ".join(f"{n} {k}" for k, n in summary["checked"].items()) or "none"
    note = (f"{summary['files']} files, {summary['documents']} Argo documents checked ({checked}); "
            f"{sum(summary['ignored'].values())} other documents ignored")
    skips = [f"skipped {s.get('kind')}/{s.get('name')} ({s.get('file')}): {s.get('reason')}"
             for s in summary["skipped"]]
    return Report(kind="lint", target=target, findings=found, tool="invoke lint",
                  extra={k: v for k, v in summary.items() if k != "findings"}, notes=[note, *skips])


def main(path: str, as_json: bool = False, fmt: str = "") -> int:
    fmt = stdout.chosen_format("lint", fmt, as_json)
    if fmt is None:
        return 2
    target = Path(path)
    if not target.exists():
        return stdout.cannot_run("lint", f"{path}: no such file or directory", fmt=fmt, target=path)
    files = yaml_files(target)
    if not files:
        return stdout.cannot_run("lint", f"{path}: no .yaml/.yml files found", fmt=fmt, target=path)
    try:
        found, summary = lint_paths(files)
    except Exception as e:  # noqa: BLE001 - the edge: one clear line, no traceback
        return stdout.cannot_run("lint", f"{type(e).__name__}: {e}", fmt=fmt, target=path)
    return stdout.show(lint_report(path, found, summary), fmt)


__all__ = ["Severity", "lint_paths", "main", "yaml_files"]
