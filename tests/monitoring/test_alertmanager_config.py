"""The AlertmanagerConfig of each env: valid against prometheus-operator's CRD (strict), routing
critical alerts to the pager in prod only, its secret keys sealed for the env's namespace."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from tests.monitoring.monitoringkit import crd_schema, one
from tooling import repo
from tooling.sealing import scope_label, unseal

ROUTING = "geozarr-alert-routing"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = crd_schema("prometheus-operator/monitoring.coreos.com_alertmanagerconfigs.yaml", "v1alpha1")
    return Draft202012Validator(schema)


def _errors(validator, obj) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


@pytest.mark.parametrize("env", repo.ENVS)
def test_rendered_config_is_valid_against_the_upstream_crd(rendered, validator, env):
    doc = one(rendered[env].docs, "AlertmanagerConfig", ROUTING)
    assert _errors(validator, doc.obj) == []


def test_an_unknown_field_or_a_wrong_match_type_is_rejected(rendered, validator):
    doc = copy.deepcopy(one(rendered["prod"].docs, "AlertmanagerConfig", ROUTING).obj)
    # (child routes are free-form in the CRD: x-kubernetes-preserve-unknown-fields)
    doc["spec"]["route"]["matchers"] = [{"name": "severity", "value": "critical", "matchType": "=="}]
    doc["spec"]["receivers"][0]["slackConfigs"][0]["webhook"] = "https://example"
    errors = _errors(validator, doc)
    assert any("matchType" in e for e in errors) and any("webhook" in e for e in errors), errors


def _receivers(doc) -> dict[str, dict]:
    return {r["name"]: r for r in doc.obj["spec"]["receivers"]}


def test_staging_never_pages(rendered):
    doc = one(rendered["staging"].docs, "AlertmanagerConfig", ROUTING)
    receivers = _receivers(doc)
    assert set(receivers) == {"chat"}
    assert doc.obj["spec"]["route"]["receiver"] == "chat" and not doc.obj["spec"]["route"].get("routes")
    rules = [d for d in rendered["staging"].docs if d.kind == "PrometheusRule"]
    severities = {r["labels"]["severity"] for d in rules for g in d.obj["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert severities == {"warning"}


def test_prod_pages_critical_and_chats_the_rest(rendered):
    doc = one(rendered["prod"].docs, "AlertmanagerConfig", ROUTING)
    route = doc.obj["spec"]["route"]
    assert route["receiver"] == "chat"
    critical = [{"name": "severity", "value": "critical"}]
    assert [(r["receiver"], r["matchers"], r.get("continue", False)) for r in route["routes"]] == [
        ("pager", critical, True), ("chat", critical, False)]
    assert "pagerdutyConfigs" in _receivers(doc)["pager"]
    rules = [d for d in rendered["prod"].docs if d.kind == "PrometheusRule"]
    severities = {r["labels"]["severity"] for d in rules for g in d.obj["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert severities == {"critical", "warning"}


@pytest.mark.parametrize("env", repo.ENVS)
def test_receiver_secrets_are_sealed_for_the_env(rendered, env, fixtures_key):
    doc = one(rendered[env].docs, "AlertmanagerConfig", ROUTING)
    refs = set()
    for receiver in doc.obj["spec"]["receivers"]:
        for slack in receiver.get("slackConfigs") or []:
            refs.add((slack["apiURL"]["name"], slack["apiURL"]["key"]))
        for pager in receiver.get("pagerdutyConfigs") or []:
            refs.add((pager["routingKey"]["name"], pager["routingKey"]["key"]))
    namespace = doc.obj["metadata"]["namespace"]
    for name, key in refs:
        sealed = one(rendered[env].docs, "SealedSecret", name)
        assert sealed.obj["metadata"]["namespace"] == namespace
        assert key in sealed.obj["spec"]["encryptedData"]
        # sealed with the env's certificate (issue 9): the committed test key cannot read it
        with pytest.raises(ValueError):
            unseal(fixtures_key, sealed.obj["spec"]["encryptedData"][key], scope_label(namespace, name))
