"""Fast unit tests: parameter resolution, failure classification, the proj:* repair."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from runner import params
from runner.errors import BadInput, RunnerError, TransientFailure, classify
from runner.repair import apply, plan

# --- parameters ---------------------------------------------------------------------


@pytest.fixture
def params_dir(tmp_path: Path) -> Path:
    d = tmp_path / "params"
    d.mkdir()
    (d / "params.json").write_text(json.dumps({
        "spatial_chunk": 512, "groups": ["/a", "/b"], "enable_sharding": True, "collection": "from-json",
        "output_prefix": "",
    }))
    (d / "collection").write_text("from-file\n")
    return d


@pytest.mark.parametrize(
    "key, flag, env, expected",
    [
        ("spatial_chunk", "1024", {"SPATIAL_CHUNK": "2048"}, 1024),   # flag wins
        ("spatial_chunk", None, {"SPATIAL_CHUNK": "2048"}, 2048),     # then env
        ("spatial_chunk", "", {"SPATIAL_CHUNK": ""}, 512),           # empty = unset -> params.json
        ("collection", None, {}, "from-file"),                        # per-key file beats params.json
        ("collection", None, {"COLLECTION": "from-env"}, "from-env"),
        ("groups", None, {}, ["/a", "/b"]),
        ("groups", None, {"GROUPS": '["/x","/y"]'}, ["/x", "/y"]),     # Argo passes lists as JSON
        ("groups", ["/m"], {}, ["/m"]),
        ("enable_sharding", None, {"ENABLE_SHARDING": "false"}, False),
        ("enable_sharding", None, {}, True),
        ("compression_level", None, {}, 3),                           # built-in default
        ("output_prefix", None, {}, ""),
    ],
)
def test_resolution_order(key, flag, env, expected, params_dir: Path) -> None:
    full_env = {"GEOZARR_PARAMS_DIR": str(params_dir), **env}
    assert params.resolve(key, flag, env=full_env) == expected


def test_without_params_dir_defaults_apply() -> None:
    assert params.resolve("spatial_chunk", None, env={}) == 256
    assert params.resolve("groups", None, env={}) == []


@pytest.mark.parametrize("key, value", [("spatial_chunk", "x"), ("enable_sharding", "maybe"), ("groups", "[1,")])
def test_unparseable_values_are_bad_input(key: str, value: str) -> None:
    with pytest.raises(BadInput, match=f"parameter {key}"):
        params.resolve(key, None, env={key.upper(): value})


def test_broken_params_json_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "params.json").write_text("{not json")
    with pytest.raises(BadInput, match="params.json"):
        params.resolve("collection", None, env={"GEOZARR_PARAMS_DIR": str(tmp_path)})


# --- failure classification ---------------------------------------------------------


class _ClientError(Exception):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


class EndpointConnectionError(Exception):
    pass


@pytest.mark.parametrize(
    "exc, kind",
    [
        (_ClientError("InternalError", 500), TransientFailure),
        (_ClientError("SlowDown", 503), TransientFailure),
        (_ClientError("RequestTimeout", 400), TransientFailure),
        (_ClientError("NoSuchBucket", 404), BadInput),
        (_ClientError("AccessDenied", 403), BadInput),
        (EndpointConnectionError("Could not connect to the endpoint URL"), TransientFailure),
        (TimeoutError("read timed out"), TransientFailure),
        (ConnectionResetError("connection reset by peer"), TransientFailure),
        (FileNotFoundError("/nope"), BadInput),
        (PermissionError("denied"), BadInput),
        (ValueError("something odd"), RunnerError),
    ],
)
def test_classify(exc: Exception, kind: type) -> None:
    got = classify(exc, what="do it")
    assert type(got) is kind
    assert got.message.startswith("could not do it")


def test_classify_follows_the_cause_chain() -> None:
    try:
        try:
            raise _ClientError("ServiceUnavailable", 503)
        except Exception as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert isinstance(classify(outer, what="write"), TransientFailure)


# --- proj:* repair ------------------------------------------------------------------

_GROUP = {
    "node_type": "group", "zarr_format": 3,
    "attributes": {"spatial:shape": [12, 12], "spatial:transform": [120.0, 0.0, 699960.0, 0.0, -120.0, 4700040.0],
                   "spatial:bbox": [699960.0, 4698600.0, 701400.0, 4700040.0]},
}
_ARRAY_OK = {
    "node_type": "array", "zarr_format": 3, "shape": [12, 12],
    "attributes": {"proj:shape": [12, 12], "proj:epsg": 32632,
                   "proj:transform": [120.0, 0.0, 699960.0, 0.0, -120.0, 4700040.0, 0.0, 0.0, 1.0],
                   "proj:bbox": [699960.0, 4698600.0, 701400.0, 4700040.0]},
}
_ARRAY_BAD = copy.deepcopy(_ARRAY_OK)
_ARRAY_BAD["attributes"].update({"proj:shape": [24, 24],
                                 "proj:transform": [60.0, 0.0, 699960.0, 0.0, -60.0, 4700040.0, 0.0, 0.0, 1.0]})


def _docs(array: dict) -> dict[str, dict]:
    root = {"node_type": "group", "zarr_format": 3, "attributes": {},
            "consolidated_metadata": {"kind": "inline", "must_understand": False,
                                      "metadata": {"refl/r120m": copy.deepcopy(_GROUP),
                                                   "refl/r120m/b04": copy.deepcopy(array)}}}
    refl = {"node_type": "group", "zarr_format": 3, "attributes": {},
            "consolidated_metadata": {"kind": "inline", "must_understand": False,
                                      "metadata": {"r120m/b04": copy.deepcopy(array)}}}
    return {"zarr.json": root, "refl/zarr.json": refl, "refl/r120m/zarr.json": copy.deepcopy(_GROUP),
            "refl/r120m/b04/zarr.json": copy.deepcopy(array)}


def test_repair_leaves_a_correct_level_alone() -> None:
    assert plan(_docs(_ARRAY_OK)) == []


def test_repair_fixes_the_array_and_every_consolidated_copy() -> None:
    docs = _docs(_ARRAY_BAD)
    repairs = plan(docs)
    assert {(r.path, r.field) for r in repairs} == {("/refl/r120m/b04", "proj:shape"),
                                                     ("/refl/r120m/b04", "proj:transform")}
    changed = apply(docs, repairs)
    assert changed == {"zarr.json", "refl/zarr.json", "refl/r120m/b04/zarr.json"}
    for attrs in (docs["refl/r120m/b04/zarr.json"]["attributes"],
                  docs["zarr.json"]["consolidated_metadata"]["metadata"]["refl/r120m/b04"]["attributes"],
                  docs["refl/zarr.json"]["consolidated_metadata"]["metadata"]["r120m/b04"]["attributes"]):
        assert attrs == _ARRAY_OK["attributes"]
    assert plan(docs) == []  # idempotent


# --- command line -------------------------------------------------------------------


@pytest.mark.parametrize("step", ["sample", "preflight", "convert", "stac", "manifest", "register"])
def test_every_step_has_help_naming_its_outputs(step: str, capsys: pytest.CaptureFixture[str]) -> None:
    from runner.cli import STEP_OUTPUTS, main

    assert main([step, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--outputs-dir" in text and "--json" in text
    for name in STEP_OUTPUTS[step]:
        assert name in text


def test_usage_error_is_one_json_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from runner.cli import main

    assert main(["convert", "--no-such-flag"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and json.loads(err[0])["level"] == "error"
