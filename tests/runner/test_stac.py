"""`stac`: the STAC 1.1 item of a converted store, validated offline against the
official schemas (../shared/schemas/stac) and checked against the store."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import referencing
import zarr
from pyproj import Transformer

from tests.runner.runnerkit import SHARED, Converted, json_lines, run_runner

STAC_SCHEMAS = SHARED / "schemas" / "stac"


def _registry() -> referencing.Registry:
    index = json.loads((STAC_SCHEMAS / "index.json").read_text())
    resources = []
    for uri, rel in index.items():
        contents = json.loads((STAC_SCHEMAS / rel).read_text())
        resources.append((uri, referencing.Resource.from_contents(
            contents, default_specification=referencing.jsonschema.DRAFT7)))
        resources.append((uri.rstrip("#") + "#", resources[-1][1]))
    return referencing.Registry().with_resources(resources)


def validate_item(item: dict) -> None:
    registry = _registry()
    uris = ["https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json", *item["stac_extensions"]]
    for uri in uris:
        schema = registry.contents(uri)
        cls = jsonschema.validators.validator_for(schema)
        cls(schema, registry=registry).validate(item)


def _same_verdict_as_stac_validator(item: dict, tmp_path: Path) -> None:
    """stac-validator (on the vendored schemas) and our checker agree: both say valid."""
    from stac_validator.validate import StacValidate

    from conformance.stac import vendored
    from conformance.stac.check import check_item

    path = tmp_path / "verdict-item.json"
    path.write_text(json.dumps(item))
    schema_map = {uri: str(vendored.VENDORED_DIR / rel) for uri, rel in vendored.index().items()}
    ours = check_item(str(path), offline=True, schema_cache=str(tmp_path / "no-cache"))
    schema_errors = [f.to_dict() for f in ours.findings if f.rule.startswith("stac.schema")]
    assert schema_errors == [] and StacValidate(str(path), schema_map=schema_map).run() is True


@pytest.fixture(scope="module")
def item_local(converted_144: Converted, tmp_path_factory: pytest.TempPathFactory) -> dict:
    dest = tmp_path_factory.mktemp("items") / "item.json"
    r = run_runner("stac", converted_144.output, "--collection", "sentinel-2-l2a", "--item-id", "S2_sample_144",
                   "-o", str(dest), "--json", "--outputs-dir", str(dest.parent / "outs"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["item"] == str(dest)
    assert (dest.parent / "outs" / "item").read_text() == str(dest)
    return json.loads(dest.read_text())


@pytest.mark.slow
def test_item_validates_against_the_official_schemas(item_local: dict) -> None:
    assert item_local["stac_version"] == "1.1.0"
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in item_local["stac_extensions"]
    validate_item(item_local)


@pytest.mark.slow
def test_stac_validator_agrees_on_the_cli_item(item_local: dict, tmp_path: Path) -> None:
    _same_verdict_as_stac_validator(item_local, tmp_path)


@pytest.mark.slow
def test_item_agrees_with_the_store_and_the_source(item_local: dict, converted_144: Converted, sample_144: Path) -> None:
    store = Path(converted_144.output)
    r10 = zarr.open_group(store / "measurements" / "reflectance" / "r10m", mode="r")
    props = item_local["properties"]
    assert props["proj:code"] == r10.attrs["proj:code"] == "EPSG:32632"
    assert props["proj:shape"] == list(r10.attrs["spatial:shape"]) == [144, 144]
    assert props["proj:transform"] == list(r10.attrs["spatial:transform"])
    # bbox (EPSG:4326) contains every corner of the grid
    west, south, east, north = item_local["bbox"]
    to_ll = Transformer.from_crs(32632, 4326, always_xy=True)
    x1, y1, x2, y2 = r10.attrs["spatial:bbox"]
    for x, y in [(x1, y1), (x1, y2), (x2, y1), (x2, y2)]:
        lon, lat = to_ll.transform(x, y)
        assert west - 1e-7 <= lon <= east + 1e-7 and south - 1e-7 <= lat <= north + 1e-7
    assert east - west < 0.05 and north - south < 0.05  # 1.44 km, not the whole tile
    src = zarr.open_group(sample_144, mode="r").attrs["stac_discovery"]["properties"]
    assert props["start_datetime"] == src["start_datetime"]
    assert props["datetime"].startswith(src["start_datetime"][:19])
    assets = item_local["assets"]
    assert assets["geozarr"]["type"] == "application/vnd.zarr; version=3"
    assert assets["geozarr"]["href"] == str(store)
    refl = assets["measurements-reflectance"]
    assert refl["type"] == "application/vnd.zarr; version=3; profile=multiscales"
    assert refl["href"] == f"{store}/measurements/reflectance"
    assert {b["name"] for b in refl["bands"]} >= {"b02", "b03", "b04", "b08", "b8a", "b11", "b12"}
    assert assets["run-manifest"]["href"] == f"{store}/run.json"
    links = {link["rel"]: link for link in item_local["links"]}
    assert links["derived_from"]["href"] == str(sample_144)


def test_stac_on_an_incomplete_store_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "incomplete.zarr"
    store.mkdir()
    (store / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    r = run_runner("stac", str(store), "--collection", "c", "--item-id", "i", "-o", str(tmp_path / "item.json"))
    assert r.returncode == 2
    errs = [e for e in json_lines(r.stderr) if e["level"] == "error"]
    assert "incomplete" in str(errs[0]["message"])
    assert not (tmp_path / "item.json").exists()


@pytest.mark.slow
def test_item_for_an_s3_store(converted_s3_72, tmp_path: Path) -> None:
    converted, env = converted_s3_72
    dest = "s3://geozarr-out/items/S2_sample_72.json"
    r = run_runner("stac", converted.output, "-o", dest, "--json", "--quiet", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["item_id"] == "S2_sample_72" and out["collection"] == "sentinel-2-l2a"  # from run.json
    import boto3

    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="k",
                      aws_secret_access_key="s", region_name="us-east-1")
    item = json.loads(s3.get_object(Bucket="geozarr-out", Key="items/S2_sample_72.json")["Body"].read())
    validate_item(item)
    geozarr = item["assets"]["geozarr"]
    assert geozarr["href"] == f"{env['AWS_ENDPOINT_URL']}/geozarr-out/tests/sentinel-2-l2a/S2_sample_72.zarr"
    assert geozarr["alternate"]["s3"]["href"] == converted.output
    assert geozarr["alternate"]["s3"]["storage:refs"] == ["output-s3"]
    _same_verdict_as_stac_validator(item, tmp_path)
    scheme = item["properties"]["storage:schemes"]["output-s3"]
    assert scheme["type"] == "custom-s3" and scheme["platform"] == env["AWS_ENDPOINT_URL"]
    assert item["collection"] == "sentinel-2-l2a"


# --- the env's links (fast) -----------------------------------------------------------------


def test_link_templates_expand_quoted_and_keep_tile_placeholders() -> None:
    from runner.stac_links import expand

    values = {"collection": "s2 l2a", "item_id": "a/b", "source_id": "S2A_X"}
    assert expand("https://t/{collection}/{item_id}/{z}/{x}/{y}.png?s={source_id}", key="xyz_url",
                  values=values) == "https://t/s2%20l2a/a%2Fb/{z}/{x}/{y}.png?s=S2A_X"


def test_an_unknown_placeholder_is_a_configuration_error(tmp_path: Path) -> None:
    from runner.errors import BadInput
    from runner.stac_links import expand

    with pytest.raises(BadInput, match=r"unknown placeholder\(s\) \['tile'\]"):
        expand("https://t/{tile}", key="xyz_url", values={})


def test_templates_and_collection_come_from_the_params_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.stac_links import from_params

    (tmp_path / "params.json").write_text(json.dumps({"viewer_url": "https://v/{item_id}"}))
    (tmp_path / "collection.json").write_text(json.dumps({"type": "Collection", "id": "c", "links": []}))
    monkeypatch.setenv("GEOZARR_PARAMS_DIR", str(tmp_path))
    for key in ("XYZ_URL", "TILEJSON_URL", "VIEWER_URL", "SOURCE_ITEM_URL"):
        monkeypatch.delenv(key, raising=False)
    links = from_params({"xyz_url": "https://x/{z}/{x}/{y}"})
    assert links.templates == {"xyz": "https://x/{z}/{x}/{y}", "viewer": "https://v/{item_id}"}
    assert links.collection_doc["id"] == "c" and links.source_item_url == ""


@pytest.mark.slow
def test_a_bad_template_exits_2_before_writing(converted_144: Converted, tmp_path: Path) -> None:
    dest = tmp_path / "item.json"
    r = run_runner("stac", converted_144.output, "--collection", "c", "--item-id", "i", "-o", str(dest),
                   "--xyz-url", "https://t/{tile}")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "unknown placeholder" in json_lines(r.stderr)[-1]["message"]
    assert not dest.exists()
