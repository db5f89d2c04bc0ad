"""`promtool check rules` on PrometheusRule groups (the real promtool from Debian's prometheus)."""

from __future__ import annotations

import os

import pytest

from tooling.manifests import promtool


def test_valid_rules_pass(docs_of):
    assert promtool.check_rules(docs_of("promtool/valid.yaml"), "prod") == []


def test_broken_promql_fails(docs_of):
    found = promtool.check_rules(docs_of("promtool/invalid.yaml"), "prod")
    assert [(f.rule, f.kind, f.name, f.file, f.env) for f in found] == [
        (promtool.RULES.id, "PrometheusRule", "broken", "promtool/invalid.yaml", "prod")
    ]
    assert "parse error" in found[0].message and "geozarr-promtool" not in found[0].message


def test_both_files_in_one_call_are_attributed(docs_of):
    docs = docs_of("promtool/valid.yaml") + docs_of("promtool/invalid.yaml")
    assert [f.name for f in promtool.check_rules(docs)] == ["broken"]


def test_missing_promtool_is_an_error_not_a_skip(docs_of, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(promtool.PromtoolMissing, match="apt-get install"):
        promtool.check_rules(docs_of("promtool/valid.yaml"))


def test_no_rules_needs_no_promtool(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert promtool.check_rules([]) == []
    assert os.environ["PATH"] == str(tmp_path)
