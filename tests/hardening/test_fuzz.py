"""Fuzzing the parsers and checkers behind the entry points (hypothesis, a bounded budget per
property): whatever bytes come in, the answer is a value, a finding or the documented error type,
never another exception, a hang or a crash (issue 9, case 6)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.findings import Finding
from runner import bounded_json, identifiers, urls

BUDGET = settings(max_examples=60, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
# text near the formats: mutated JSON/YAML, brackets, anchors and aliases, control characters
near_format = st.one_of(
    st.text(alphabet=st.sampled_from(list('[]{}:,-&*!|>"\'#\n\t abc01\\.?%@\x00\x85')), max_size=300),
    json_values.map(json.dumps),
    json_values.map(lambda v: yaml.safe_dump(v, default_flow_style=None)),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: "a:\n" + "".join(" " * i + "k:\n" for i in range(1, n))),
)


@BUDGET
@given(near_format)
def test_bounded_json_only_raises_value_error(text: str) -> None:
    try:
        bounded_json.loads(text)
    except ValueError:
        pass


@BUDGET
@given(near_format)
def test_yaml_loader_never_raises(text: str) -> None:
    from tooling.schema.documents import load_documents

    docs, findings = load_documents(text, "fuzz.yaml")
    assert all(isinstance(f, Finding) for f in findings)
    assert all(isinstance(d.obj, dict) for d in docs)


@BUDGET
@given(st.text(max_size=300))
def test_identifier_policy_and_url_masking_are_total(value: str) -> None:
    why = identifiers.problem(value)
    assert isinstance(why, str)
    if not why:
        assert "/" not in value and "\n" not in value and ".." not in value
    masked = urls.mask(value)
    assert isinstance(masked, str)


@BUDGET
@given(st.text(max_size=200))
def test_schema_cache_keys_stay_in_the_cache(path: str) -> None:
    from conformance.stac.schemas import cache_name

    name = cache_name("https://stac-extensions.github.io/" + path)
    assert name.startswith("fetched/") and ".." not in name and name.count("/") == 1


def _stac_exit(item: Any) -> int:
    from conformance.__main__ import main

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "item.json"
        path.write_text(item if isinstance(item, str) else json.dumps(item))
        return main(["stac", str(path), "--json", "--quiet", "--schema-cache", str(Path(d) / "c")])


item_like = st.fixed_dictionaries(
    {"type": st.just("Feature")},
    optional={"id": json_values, "collection": json_values, "stac_version": json_values,
              "bbox": json_values, "geometry": json_values, "properties": json_values,
              "links": json_values, "assets": json_values, "stac_extensions": json_values},
)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(item_like, near_format))
def test_check_stac_answers_every_item(item: Any) -> None:
    assert _stac_exit(item) in (0, 1, 2)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(near_format)
def test_check_geozarr_answers_every_zarr_json(text: str) -> None:
    from conformance.__main__ import main

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "zarr.json").write_text(text)
        code = main(["geozarr", d, "--json", "--quiet", "--no-gdal", "--no-sample"])
    assert code in (0, 1, 2)


@BUDGET
@given(st.text(max_size=200))
def test_sealer_env_file_parser(text: str) -> None:
    from tooling import sealing

    try:
        data = sealing.read_env_file(text)
    except ValueError:
        return
    assert data and all(isinstance(k, str) and k for k in data)
