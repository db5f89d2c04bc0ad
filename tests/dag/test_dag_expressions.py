"""Argo `depends` logic and retryStrategy expressions: evaluated as Argo does, or refused."""

from __future__ import annotations

import pytest

from tooling.dag.expressions import (
    ExpressionError,
    parse_depends,
    parse_retry_expression,
    results_for_phase,
)
from tooling.dag.model import RETRY_VARIABLES

TASKS = frozenset({"a", "b", "check-geozarr"})


@pytest.mark.parametrize(
    ("text", "phases", "expected"),
    [
        ("a", {"a": "Succeeded"}, True),
        ("a", {"a": "Skipped"}, True),
        ("a", {"a": "Failed"}, False),
        ("a", {"a": "Omitted"}, False),
        ("a.Failed", {"a": "Failed"}, True),
        ("a.Failed", {"a": "Error"}, False),
        ("a.Errored", {"a": "Error"}, True),
        ("a.Succeeded || a.Failed", {"a": "Failed"}, True),
        ("a.Succeeded || a.Failed", {"a": "Omitted"}, False),
        ("a && b", {"a": "Succeeded", "b": "Failed"}, False),
        ("a && !b.Failed", {"a": "Succeeded", "b": "Succeeded"}, True),
        ("(a.Succeeded || a.Failed) && (b.Succeeded || b.Failed)", {"a": "Failed", "b": "Succeeded"}, True),
        ("check-geozarr.Succeeded || check-geozarr.Failed", {"check-geozarr": "Failed"}, True),
        ("a.AnySucceeded", {"a": "Succeeded"}, True),
        ("a.AllFailed", {"a": "Error"}, True),
    ],
)
def test_depends(text: str, phases: dict[str, str], expected: bool) -> None:
    d = parse_depends(text, TASKS)
    assert d.tasks == frozenset(phases)
    assert d.evaluate({t: results_for_phase(p) for t, p in phases.items()}) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "not in the DAG"),
        ("a.Finished", "unknown result 'Finished'"),
        ("a &&", "unexpected"),
        ("a.Succeeded ?? b", "unsupported character"),
    ],
)
def test_depends_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_depends(text, TASKS)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("asInt(lastRetry.exitCode) == 3", {"lastRetry.exitCode": "3"}, True),
        ("asInt(lastRetry.exitCode) == 3", {"lastRetry.exitCode": "2"}, False),
        ("asInt(lastRetry.exitCode) in [3, 4]", {"lastRetry.exitCode": "4"}, True),
        ('lastRetry.status == "Error" || asInt(lastRetry.exitCode) >= 3',
         {"lastRetry.status": "Failed", "lastRetry.exitCode": "1"}, False),
        ('not (lastRetry.status == "Error") and asInt(lastRetry.exitCode) != 0',
         {"lastRetry.status": "Failed", "lastRetry.exitCode": "1"}, True),
    ],
)
def test_retry_expression(text: str, env: dict[str, str], expected: bool) -> None:
    assert parse_retry_expression(text, RETRY_VARIABLES).evaluate(env) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("asInt(workflow.status) == 3", "unsupported variable 'workflow.status'"),
        ("sprig.int(lastRetry.exitCode) == 3", "unsupported function"),
        ("lastRetry.exitCode matches '3'", "unexpected"),
    ],
)
def test_retry_expression_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_retry_expression(text, RETRY_VARIABLES)
