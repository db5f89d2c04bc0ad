"""The monitoring checks of `invoke validate`: each with a passing and a failing case, the real
promtool underneath; and the repo's envs pass them all."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tooling import repo
from tooling.manifests import monitoring, promtool, validate
from tooling.manifests.toolcache import ToolCache
from tooling.schema.documents import load_documents

BASE = monitoring.RUNBOOK_BASE


def _docs(text: str) -> list:
    docs, problems = load_documents(textwrap.dedent(text), "fixture.yaml")
    assert not problems
    return docs


def _rule(expr: str, labels: str = "{severity: critical, namespace: ns1}",
          runbook: str = f"{BASE}docs/runbooks/alerts/a.md", annotations: bool = True) -> list:
    notes = (f"""
                  annotations:
                    summary: s
                    description: d
                    runbook_url: {runbook}""" if annotations else "")
    return _docs(f"""
        apiVersion: monitoring.coreos.com/v1
        kind: PrometheusRule
        metadata: {{name: r, namespace: ns1}}
        spec:
          groups:
            - name: geozarr-pipeline
              rules:
                - alert: GeozarrA
                  expr: 'sum by (namespace) (up{{namespace="ns1"}}) == 0'
                  labels: {labels}{notes}
            - name: other
              rules:
                - alert: GeozarrB
                  expr: '{expr}'
                  labels: {labels}{notes}
        """)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "docs" / "runbooks" / "alerts").mkdir(parents=True)
    (tmp_path / "docs" / "runbooks" / "alerts" / "a.md").write_text("# GeozarrA: what fired\n\nbody\n")
    return tmp_path


def test_runbook_must_exist_and_carry_the_alert_name(root):
    assert monitoring.runbook_problem("GeozarrA", f"{BASE}docs/runbooks/alerts/a.md", root) == ""
    assert "does not exist" in monitoring.runbook_problem("GeozarrA", f"{BASE}docs/runbooks/alerts/b.md", root)
    assert "expected '# GeozarrB" in monitoring.runbook_problem("GeozarrB", f"{BASE}docs/runbooks/alerts/a.md", root)
    assert "does not start with" in monitoring.runbook_problem("GeozarrA", "https://wiki.example/a", root)


def test_every_alert_of_a_rule_gets_its_runbook_checked(root):
    found = monitoring.check_runbooks(_rule("absent(up)"), "prod", root)
    assert [f.message.split(":")[0] for f in found] == ["alert GeozarrB"]  # GeozarrA's title matches


def test_missing_annotations_and_severity_are_findings():
    assert monitoring.check_annotations(_rule("absent(up)"), "prod") == []
    found = monitoring.check_annotations(_rule("absent(up)", labels="{namespace: ns1}", annotations=False), "prod")
    assert len(found) == 2 and "labels.severity, summary, description, runbook_url" in found[0].message


def test_pipeline_exprs_and_labels_are_scoped_to_the_objects_namespace():
    assert monitoring.check_scope(_rule('absent(up{job="x"})'), "prod") == []
    wrong_label = monitoring.check_scope(_rule("absent(up)", labels="{severity: warning, namespace: other}"), "prod")
    assert len(wrong_label) == 2 and all("labels.namespace" in f.message for f in wrong_label)
    docs = _rule("absent(up)")
    docs[0].obj["spec"]["groups"][0]["rules"][0]["expr"] = 'up{job="x", namespace="ns1"} == 0'
    found = monitoring.check_scope(docs, "prod")
    assert [f.rule for f in found] == [monitoring.SCOPE.id] and "GeozarrA" in found[0].message
    docs[0].obj["spec"]["groups"][0]["rules"] = [{"record": "r:x", "expr": 'sum(up{namespace="other"})'}]
    assert [f.message for f in monitoring.check_scope(docs, "prod")][:1] == [
        'record r:x: its first quoted string is not the matcher namespace="ns1"']


def test_an_alert_needs_a_firing_and_a_silent_test(tmp_path):
    test = tmp_path / "a.test.yaml"
    test.write_text(json.dumps({"tests": [{"alert_rule_test": [
        {"alertname": "GeozarrA", "exp_alerts": [{"exp_labels": {}}]}, {"alertname": "GeozarrA", "exp_alerts": []},
        {"alertname": "GeozarrB", "exp_alerts": [{"exp_labels": {}}]}]}]}))
    found = monitoring.check_tested(_rule("absent(up)"), "prod", [test])
    assert [f.message.split(":")[0] for f in found] == ["alert GeozarrB"] and "silent" in found[0].message


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (namespace) (rate(a_total{namespace="x", b="c"}[5m]))', {"a_total"}),
    (('histogram_quantile(0.95, sum by (le) (rate(h_bucket[6h]))) > on(p) group_left() '
     '(label_replace(vector(1200), "p", "S2", "", ""))'), {"h_bucket"}),
    ("x unless x offset 1h or absent_over_time(y{a=\"b\"}[26h]) * 1e3 > bool 0.5", {"x", "y"}),
    ("count(kube_pod_info) or vector(0)", {"kube_pod_info"}),
])
def test_metric_names_of_an_expression(expr, names):
    assert monitoring.metric_names(expr) == names


def test_histogram_series_count_as_their_metric():
    assert monitoring.undocumented({"h_bucket", "h_sum", "other_bucket", "c"}, {"h", "c"}) == ["other_bucket"]


def _dashboard_docs(*exprs: str, label: str = "1") -> list:
    dashboard = {"panels": [{"id": 1, "title": "row", "type": "row", "panels": [
        {"id": i + 2, "title": f"p{i}", "targets": [{"refId": "A", "expr": e}]} for i, e in enumerate(exprs)]}]}
    return _docs(f"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: d, namespace: ns1, labels: {{grafana_dashboard: "{label}"}}}}
        data:
          d.json: '{json.dumps(dashboard)}'
        """)


def test_dashboard_queries_parse_and_use_documented_metrics():
    ok = _dashboard_docs('sum(rate(a_total{namespace="$namespace"}[$__rate_interval]))')
    assert monitoring.check_dashboards(ok, "prod", {"a_total"}) == []
    bad = monitoring.check_dashboards(_dashboard_docs("sum(rate(a_total[5m])", "rate(made_up_total[5m])"),
                                      "prod", {"a_total"})
    assert [f.rule for f in bad] == [promtool.PROMQL.id, monitoring.METRICS.id]
    assert 'panel "p0"' in bad[0].message and "parse error" in bad[0].message
    assert "made_up_total" in bad[1].message


def test_no_sidecar_labelled_dashboard_is_an_error():
    found = monitoring.check_dashboards(_dashboard_docs("up", label="0"), "prod", {"up"})
    assert [f.rule for f in found] == [monitoring.DASHBOARD.id]


def test_promtool_test_rules_reports_the_failed_assertion(tmp_path):
    docs = _rule("absent(up)")
    test = tmp_path / "t.test.yaml"
    test.write_text(textwrap.dedent("""
        rule_files: [r.rules.yaml]
        tests:
          - interval: 1m
            input_series:
              - series: 'up{job="x"}'
                values: '1x10'
            alert_rule_test:
              - {eval_time: 5m, alertname: GeozarrB, exp_alerts: []}
              - eval_time: 5m
                alertname: GeozarrA
                exp_alerts: [{exp_labels: {severity: __PAGE__, namespace: ns1}}]
        """))
    assert promtool.test_rules(docs, [test], "prod", {"__PAGE__": "critical"})[0].rule == promtool.TESTS.id
    assert "GeozarrA" in promtool.test_rules(docs, [test], "prod")[0].message
    test.write_text(test.read_text().replace("exp_alerts: [{exp_labels: {severity: __PAGE__, namespace: ns1}}]",
                                             "exp_alerts: []"))
    assert promtool.test_rules(docs, [test], "prod") == []


def test_a_result_is_remembered_only_for_the_same_rules_and_test(tmp_path):
    test = tmp_path / "t.test.yaml"
    test.write_text(textwrap.dedent("""
        rule_files: [r.rules.yaml]
        tests:
          - interval: 1m
            input_series: [{series: 'up{job="x"}', values: '0x10'}]
            alert_rule_test: [{eval_time: 5m, alertname: GeozarrB, exp_alerts: []}]
        """))
    cache = ToolCache(tmp_path / "cache")
    assert promtool.test_rules(_rule("absent(up)"), [test], "prod", cache=cache) == []
    assert len(list(cache.directory.glob("*.json"))) == 1
    # the same test against a changed rule runs again, and fails: up is 0, GeozarrB now fires
    found = promtool.test_rules(_rule("up == 0"), [test], "prod", cache=cache)
    assert [f.rule for f in found] == [promtool.TESTS.id] and len(list(cache.directory.glob("*.json"))) == 2
    # and the failure read back is the same finding
    assert promtool.test_rules(_rule("up == 0"), [test], "prod", cache=cache) == found


def test_without_promtool_the_tests_cannot_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(promtool.PromtoolMissing):
        promtool.test_rules(_rule("absent(up)"), [tmp_path / "t.test.yaml"])


def test_validate_runs_the_monitoring_rules():
    ids = {r.id for r in validate.rules()}
    assert {r.id for r in monitoring.RULES} <= ids


@pytest.mark.parametrize("env", repo.ENVS)
def test_the_repo_envs_pass_every_monitoring_check(rendered, env):
    assert monitoring.alert_test_files(env), "no promtool tests"
    # promtool's results of unchanged inputs read back, as `invoke validate` does
    assert monitoring.check_env(rendered[env].docs, env, cache=ToolCache(repo.TOOL_CACHE)) == []
