"""withSequence unrolled for the local executor, with Argo's group semantics in `depends`."""

from __future__ import annotations

import pytest

from tooling.backfill.sequences import (
    SequenceError,
    rewrite_depends,
    sequence_values,
    unroll_sequences,
)


def _doc(seq: dict, depends: str = "fan") -> dict:
    return {"spec": {"arguments": {"parameters": [{"name": "n", "value": "3"}]},
                     "templates": [{"name": "main", "dag": {"tasks": [
                         {"name": "fan", "template": "t", "withSequence": seq,
                          "arguments": {"parameters": [{"name": "i", "value": "{{item}}"}]}},
                         {"name": "fan-in", "template": "t", "depends": depends}]}}]}}


def test_count_from_a_workflow_parameter_with_overrides():
    doc = unroll_sequences(_doc({"count": "{{workflow.parameters.n}}"}), {"n": "2"})
    tasks = doc["spec"]["templates"][0]["dag"]["tasks"]
    assert [t["name"] for t in tasks] == ["fan-0", "fan-1", "fan-in"]
    assert [t["arguments"]["parameters"][0]["value"] for t in tasks[:2]] == ["0", "1"]
    assert "withSequence" not in tasks[0]
    assert tasks[2]["depends"] == "(fan-0.Succeeded && fan-1.Succeeded)"


@pytest.mark.parametrize(("seq", "values"), [
    ({"count": "3"}, [0, 1, 2]), ({"start": "2", "count": 2}, [2, 3]),
    ({"start": "1", "end": "3"}, [1, 2, 3]), ({"start": "3", "end": "1"}, [3, 2, 1]),
])
def test_sequence_values_as_argo_counts_them(seq, values):
    assert sequence_values(seq, {}) == values


@pytest.mark.parametrize(("text", "expected"), [
    ("fan.Succeeded || fan.Failed", "(a.Succeeded && b.Succeeded) || (a.Failed || b.Failed)"),
    ("fan.AnySucceeded", "(a.Succeeded || b.Succeeded)"),
    ("fan.AllFailed && other", "(a.Failed && b.Failed) && other"),
    ("fan-in && fanfare.Failed", "fan-in && fanfare.Failed"),  # other tasks are left alone
])
def test_depends_on_a_group(text, expected):
    assert rewrite_depends(text, {"fan": ["a", "b"]}) == expected


@pytest.mark.parametrize("seq", [{"count": "0"}, {"count": "many"}, {"count": "{{workflow.parameters.x}}"}])
def test_a_sequence_that_cannot_be_unrolled_is_one_error(seq):
    with pytest.raises(SequenceError):
        unroll_sequences(_doc(seq), {})
