"""tooling.schema.documents: multi-document YAML with the problems loaders hide."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooling.schema.documents import check_yaml_file, load_documents

CASES = [
    # text, expected (rule, path) findings
    ("a: 1\nb:\n  c: 1\n  c: 2\n", [("yaml.duplicate-key", "b.c")]),
    ("a:\n  - {x: 1, x: 2}\n", [("yaml.duplicate-key", "a[0].x")]),
    ("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n", []),  # merge keys override, not duplicate
    ("a: [1\n", [("yaml.syntax", "")]),
    ("- 1\n", [("yaml.not-a-mapping", "")]),
    ("a: =\n", []),  # a plain `=` is a string, not PyYAML's unconstructable `value` tag
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_load_findings(text: str, expected: list[tuple[str, str]]) -> None:
    _, found = load_documents(text, "f.yaml")
    assert [(f.rule, f.path) for f in found] == expected
    assert all(f.file == "f.yaml" for f in found)


def test_documents_keep_index_and_line() -> None:
    text = "kind: A\nmetadata: {name: a}\n---\n---\n# c\nkind: B\nmetadata: {generateName: b-}\n"
    docs, found = load_documents(text, "f.yaml")
    assert found == []
    assert [(d.kind, d.name, d.index, d.line) for d in docs] == [("A", "a", 0, 1), ("B", "b-", 2, 6)]


def test_syntax_error_keeps_the_documents_before_it() -> None:
    docs, found = load_documents("kind: A\n---\nkind: [\n", "f.yaml")
    assert [d.kind for d in docs] == ["A"]
    [finding] = found
    assert finding.rule == "yaml.syntax" and "document 1" in finding.message and "line 4" in finding.message


def test_duplicate_key_finding_names_the_object() -> None:
    _, [finding] = load_documents("kind: ConfigMap\nmetadata: {name: p}\ndata: {a: '1', a: '2'}\n", "cm.yaml")
    assert (finding.kind, finding.name, finding.path) == ("ConfigMap", "p", "data.a")
    assert "line 3" in finding.message


def test_check_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    (tmp_path / "bad.yaml").write_text("a: 1\na: 2\n")
    assert check_yaml_file(tmp_path / "ok.yaml") == []
    assert [f.rule for f in check_yaml_file(tmp_path / "bad.yaml")] == ["yaml.duplicate-key"]
    assert [f.rule for f in check_yaml_file(tmp_path / "missing.yaml")] == ["yaml.syntax"]
