"""The WorkflowTemplates' custom metrics: valid against Argo v4.0.9's CRD (strict), bounded labels,
one help string per metric name, every metric documented."""

from __future__ import annotations

import copy
import re

import pytest
from jsonschema import Draft202012Validator

from tests.monitoring.monitoringkit import crd_schema
from tooling import repo
from tooling.manifests import monitoring

TEMPLATES = ("geozarr-convert", "geozarr-conformance")
# values a label may take from Argo variables: bounded sets (status, exit code, product type,
# collection, namespace); the workflow name only on the info series
BOUNDED = {"{{workflow.namespace}}", "{{workflow.parameters.collection}}", "{{workflow.status}}",
           "{{status}}", "{{exitCode}}", "{{outputs.parameters.product_type}}"}
INFO_ONLY = {"{{workflow.name}}"}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(crd_schema("argo-workflows-v4.0.9/argoproj.io_workflowtemplates.yaml", "v1alpha1"))


def _template(rendered, name):
    return next(d for d in rendered["prod"].docs if d.kind == "WorkflowTemplate" and d.name == name)


def _metrics(doc) -> list[dict]:
    spec = doc.obj["spec"]
    blocks = [spec.get("metrics") or {}] + [t.get("metrics") or {} for t in spec["templates"]]
    return [m for b in blocks for m in b.get("prometheus") or []]


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_valid_against_argos_crd(rendered, validator, name):
    doc = _template(rendered, name)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc.obj)]
    assert errors == []
    assert _metrics(doc), f"{name} emits no metric"


def test_a_gauge_without_realtime_is_rejected_like_argo_does(rendered, validator):
    doc = copy.deepcopy(_template(rendered, "geozarr-convert").obj)
    gauge = next(m for m in doc["spec"]["metrics"]["prometheus"] if "gauge" in m)
    del gauge["gauge"]["realtime"]
    gauge["name"] = "bad-name"
    messages = [e.message for e in validator.iter_errors(doc)]
    assert any("'realtime' is a required property" in m for m in messages), messages
    assert any("does not match" in m and "bad-name" in m for m in messages), messages


@pytest.mark.parametrize("name", TEMPLATES)
def test_labels_are_bounded(rendered, name):
    for metric in _metrics(_template(rendered, name)):
        allowed = BOUNDED | (INFO_ONLY if metric["name"].endswith("_info") else set())
        for label in metric.get("labels") or []:
            variables = set(re.findall(r"\{\{[^}]*\}\}", label["value"]))
            assert variables <= allowed, f"{metric['name']}: label {label['key']} = {label['value']}"


def test_one_help_and_one_type_per_metric_name(rendered):
    seen: dict[str, tuple[str, str]] = {}
    for name in TEMPLATES:
        for metric in _metrics(_template(rendered, name)):
            kind = next(k for k in ("counter", "gauge", "histogram") if k in metric)
            assert seen.setdefault(metric["name"], (metric["help"], kind)) == (metric["help"], kind), metric["name"]


def test_every_emitted_metric_is_documented(rendered):
    catalogue = monitoring.documented_metrics(repo.ROOT / "docs" / "metrics.md")
    emitted = set(monitoring.emitted_metrics(rendered["prod"].docs))
    assert emitted and emitted <= catalogue, sorted(emitted - catalogue)
