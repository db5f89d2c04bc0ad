"""Checks of an env's monitoring: its alerts (scope, annotations, runbooks, unit tests) and the
Grafana dashboard's queries (they parse, and every metric they use is documented).

The metric catalogue is docs/metrics.md: every metric named in the first column of its tables
(backticks) is one we emit or a documented Argo / kube-state-metrics / blackbox metric. A query
naming anything else is an error, and so is a metric our WorkflowTemplates emit that the catalogue
does not list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.findings import Finding, Rule, Severity
from tooling import repo, yamlio
from tooling.manifests import promtool
from tooling.manifests.toolcache import ToolCache

RUNBOOK_BASE = "https://github.com/EOPF-Explorer/eopf-geozarr-gitops/blob/main/"
ARGO_PREFIX = "argo_workflows_"
SCOPED_GROUP = "geozarr-pipeline"
MAX_SEVERITY = "eopf-geozarr.io/max-severity"
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")

ANNOTATIONS = Rule("monitoring.alert-annotations", Severity.ERROR,
                   "every alert has a severity label and summary, description and runbook_url annotations")
RUNBOOK = Rule("monitoring.runbook", Severity.ERROR,
               "every alert's runbook_url names a runbook in this repo whose title starts with the alert name")
SCOPE = Rule("monitoring.namespace-scope", Severity.ERROR,
             "every alert carries its env's namespace label; pipeline rules match that namespace first")
TESTED = Rule("monitoring.alert-tested", Severity.ERROR,
              "every alert has a promtool test where it fires and one where it stays silent")
METRICS = Rule("monitoring.metric-documented", Severity.ERROR,
               "every metric a dashboard query or a WorkflowTemplate names is in docs/metrics.md")
DASHBOARD = Rule("monitoring.dashboard", Severity.ERROR,
                 "the dashboard ConfigMap carries grafana_dashboard=1 and its JSON has queries")

RULES = [ANNOTATIONS, RUNBOOK, SCOPE, TESTED, METRICS, DASHBOARD, promtool.TESTS, promtool.PROMQL]


def rules_of(docs: Sequence[Any]) -> list[tuple[Any, str, dict[str, Any]]]:
    """(document, group name, rule) of every rule, alerting and recording."""
    out = []
    for doc in (d for d in docs if d.kind == "PrometheusRule"):
        for group in (doc.obj.get("spec") or {}).get("groups") or []:
            out += [(doc, group.get("name", ""), r) for r in group.get("rules") or []]
    return out


def alerts_of(docs: Sequence[Any]) -> list[tuple[Any, str, dict[str, Any]]]:
    """(document, group name, rule) of every alerting rule of the PrometheusRules."""
    return [(doc, group, rule) for doc, group, rule in rules_of(docs) if "alert" in rule]


def _where(doc: Any, env: str) -> dict[str, str]:
    return {"env": env, "file": doc.file, "kind": doc.kind, "name": doc.name}


def check_annotations(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc, _, rule in alerts_of(docs):
        missing = [a for a in REQUIRED_ANNOTATIONS if not (rule.get("annotations") or {}).get(a)]
        if not (rule.get("labels") or {}).get("severity"):
            missing.insert(0, "labels.severity")
        if missing:
            out.append(ANNOTATIONS.finding(f"alert {rule['alert']}: missing {', '.join(missing)}",
                                           path=f"alert {rule['alert']}", **_where(doc, env)))
    return out


def runbook_problem(alert: str, url: str, root: Path = repo.ROOT) -> str:
    """Why URL is not a runbook of ALERT in this repo ('' when it is)."""
    if not url.startswith(RUNBOOK_BASE):
        return f"runbook_url {url!r} does not start with {RUNBOOK_BASE}"
    path = root / url.removeprefix(RUNBOOK_BASE)
    if not path.is_file():
        return f"runbook {repo.relpath(path)} does not exist"
    title = next((ln for ln in path.read_text().splitlines() if ln.startswith("# ")), "")
    if not (title == f"# {alert}" or title.startswith(f"# {alert}:")):
        return f"runbook {repo.relpath(path)} has title {title!r}, expected '# {alert}: …'"
    return ""


def check_runbooks(docs: Sequence[Any], env: str, root: Path = repo.ROOT) -> list[Finding]:
    out = []
    for doc, _, rule in alerts_of(docs):
        problem = runbook_problem(rule["alert"], (rule.get("annotations") or {}).get("runbook_url", ""), root)
        if problem:
            out.append(RUNBOOK.finding(f"alert {rule['alert']}: {problem}",
                                       path="annotations.runbook_url", **_where(doc, env)))
    return out


def scope_problems(rule: dict[str, Any], group: str, namespace: str) -> list[str]:
    """An alert's namespace label is NAMESPACE; in the scoped group, the first quoted string of
    every rule's expr is the matcher namespace="NAMESPACE"."""
    problems = []
    label = (rule.get("labels") or {}).get("namespace", "")
    if "alert" in rule and label != namespace:
        problems.append(f"labels.namespace {label!r} is not the object's namespace {namespace!r}")
    expr = rule.get("expr", "")
    quoted = re.search(r'"([^"]*)"', expr)
    if group == SCOPED_GROUP and not (quoted and expr[:quoted.start()].endswith("namespace=")
                                      and quoted.group(1) == namespace):
        problems.append(f'its first quoted string is not the matcher namespace="{namespace}"')
    return problems


def check_scope(docs: Sequence[Any], env: str) -> list[Finding]:
    out = []
    for doc, group, rule in rules_of(docs):
        namespace = (doc.obj.get("metadata") or {}).get("namespace", "")
        what = f"alert {rule['alert']}" if "alert" in rule else f"record {rule.get('record')}"
        out += [SCOPE.finding(f"{what}: {p}", path=what, **_where(doc, env))
                for p in scope_problems(rule, group, namespace)]
    return out


def alert_test_files(env: str, root: Path = repo.ROOT) -> list[Path]:
    """The tests every env runs (base/monitoring/tests/) and the env's own (…/tests/<env>/)."""
    tests = root / "base" / "monitoring" / "tests"
    return sorted(tests.glob("*.test.yaml")) + sorted((tests / env).glob("*.test.yaml"))


def test_substitutions(docs: Sequence[Any]) -> dict[str, str]:
    """What the tests' placeholders stand for in this env: its namespace (__NAMESPACE__) and the
    severity its paging alerts have there (__PAGE__, the rules' max-severity annotation)."""
    for doc in (d for d in docs if d.kind == "PrometheusRule" and d.name == "geozarr-alerts"):
        meta = doc.obj.get("metadata") or {}
        page = (meta.get("annotations") or {}).get(MAX_SEVERITY, "critical")
        return {"__NAMESPACE__": meta.get("namespace", ""), "__PAGE__": page}
    return {}


def tested_alerts(test_files: Sequence[Path]) -> dict[str, set[str]]:
    """alert name -> {"fires", "silent"}: what the tests assert about it."""
    seen: dict[str, set[str]] = {}
    for path in test_files:
        doc = yamlio.load(path.read_text()) or {}
        for test in doc.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                seen.setdefault(case.get("alertname", ""), set()).add("fires" if case.get("exp_alerts") else "silent")
    return seen


def check_tested(docs: Sequence[Any], env: str, test_files: Sequence[Path]) -> list[Finding]:
    seen = tested_alerts(test_files)
    out = []
    for doc, _, rule in alerts_of(docs):
        lacking = {"fires", "silent"} - seen.get(rule["alert"], set())
        if lacking:
            out.append(TESTED.finding(
                f"alert {rule['alert']}: no promtool test where it {' or '.join(sorted(lacking))} "
                f"(base/monitoring/tests/{env}/)", path=f"alert {rule['alert']}", **_where(doc, env)))
    return out


# --- metric catalogue and dashboard ---------------------------------------------------------

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}
PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                   "offset", "bool", "inf", "nan", "atan2"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def documented_metrics(path: Path) -> set[str]:
    """Metric names of docs/metrics.md: the backticked first cell of every table row."""
    names = set()
    for line in path.read_text().splitlines():
        m = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|", line)
        if m:
            names.add(m.group(1))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, matchers, label lists, ranges,
    numbers, function calls and keywords removed)."""
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    s = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        if m.group(0) in PROMQL_KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue
        names.add(m.group(0))
    return names


def undocumented(names: set[str], catalogue: set[str]) -> list[str]:
    def known(name: str) -> bool:
        return name in catalogue or any(name.endswith(x) and name[: -len(x)] in catalogue for x in HISTOGRAM_SUFFIXES)

    return sorted(n for n in names if not known(n))


def emitted_metrics(docs: Sequence[Any]) -> dict[str, Any]:
    """argo_workflows_<name> -> WorkflowTemplate, for every custom metric the templates define."""
    found: dict[str, Any] = {}
    for doc in (d for d in docs if d.kind == "WorkflowTemplate"):
        spec = doc.obj.get("spec") or {}
        blocks = [spec.get("metrics") or {}] + [t.get("metrics") or {} for t in spec.get("templates") or []]
        for block in blocks:
            for metric in block.get("prometheus") or []:
                found[ARGO_PREFIX + metric.get("name", "")] = doc
    return found


def check_metrics_documented(docs: Sequence[Any], env: str, catalogue: set[str]) -> list[Finding]:
    """Emitted custom metrics and the metrics alert exprs use are all in the catalogue."""
    out = []
    for name, doc in sorted(emitted_metrics(docs).items()):
        if name not in catalogue:
            out.append(METRICS.finding(f"{name} is emitted but not documented in docs/metrics.md",
                                       path="metrics.prometheus", **_where(doc, env)))
    for doc, _, rule in alerts_of(docs):
        for name in undocumented(metric_names(rule.get("expr", "")), catalogue):
            out.append(METRICS.finding(f"alert {rule['alert']} uses {name}, not in docs/metrics.md",
                                       path=f"alert {rule['alert']}", **_where(doc, env)))
    return out


def dashboard_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """'panel "TITLE" (id N) target R' -> its PromQL, Grafana's interval variables replaced."""
    out = {}
    panels = list(dashboard.get("panels") or [])
    for panel in panels:
        panels += panel.get("panels") or []  # panels of collapsed rows
        for target in panel.get("targets") or []:
            expr = target.get("expr", "")
            for var, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, value)
            out[f'panel "{panel.get("title", "")}" (id {panel.get("id")}) target {target.get("refId", "?")}'] = expr
    return out


def dashboards_of(docs: Sequence[Any]) -> list[tuple[Any, str, Any]]:
    """(ConfigMap, data key, parsed JSON or the parse error) of every sidecar-labelled ConfigMap."""
    out = []
    for doc in (d for d in docs if d.kind == "ConfigMap"):
        if ((doc.obj.get("metadata") or {}).get("labels") or {}).get("grafana_dashboard") != "1":
            continue
        for key, text in (doc.obj.get("data") or {}).items():
            try:
                out.append((doc, key, json.loads(text)))
            except json.JSONDecodeError as e:
                out.append((doc, key, e))
    return out


def check_dashboards(docs: Sequence[Any], env: str, catalogue: set[str],
                     cache: ToolCache | None = None) -> list[Finding]:
    """Each dashboard's JSON parses and has queries; each query parses (promtool) and names only
    documented metrics. No sidecar-labelled ConfigMap at all is an error too."""
    found = dashboards_of(docs)
    if not found:
        return [DASHBOARD.finding("no ConfigMap labelled grafana_dashboard=1 (base/monitoring/dashboards/)", env=env)]
    out = []
    for doc, key, dashboard in found:
        where = _where(doc, env)
        if isinstance(dashboard, json.JSONDecodeError):
            out.append(DASHBOARD.finding(f"{key}: not JSON: {dashboard}", path=f"data.{key}", **where))
            continue
        queries = dashboard_queries(dashboard)
        if not queries:
            out.append(DASHBOARD.finding(f"{key}: no panel has a PromQL target", path=f"data.{key}", **where))
        for label, error in promtool.check_expressions(queries, cache).items():
            out.append(promtool.PROMQL.finding(f"{key}: {label}: {error}", path=f"data.{key}", **where))
        for label, expr in queries.items():
            for name in undocumented(metric_names(expr), catalogue):
                out.append(METRICS.finding(f"{key}: {label} uses {name}, not in docs/metrics.md",
                                           path=f"data.{key}", **where))
    return out


def check_env(docs: Sequence[Any], env: str, root: Path = repo.ROOT,
              cache: ToolCache | None = None) -> list[Finding]:
    """Every monitoring check of one rendered env (PromtoolMissing without promtool); promtool's
    results are read back from CACHE when its inputs are unchanged."""
    catalogue_file = root / "docs" / "metrics.md"
    if not catalogue_file.is_file():
        return [METRICS.finding(f"the metric catalogue {repo.relpath(catalogue_file)} is missing", env=env)]
    catalogue = documented_metrics(catalogue_file)
    tests = alert_test_files(env, root)
    return (check_annotations(docs, env) + check_runbooks(docs, env, root) + check_scope(docs, env)
            + check_tested(docs, env, tests)
            + promtool.test_rules(docs, tests, env, test_substitutions(docs), cache)
            + check_metrics_documented(docs, env, catalogue) + check_dashboards(docs, env, catalogue, cache))
