"""Pipeline parameters, resolved as docs/interfaces.md says.

For each key of `base/params.json`: the `--kebab-case` flag, else the
`UPPER_SNAKE_CASE` environment variable, else the file named after the key in
`$GEOZARR_PARAMS_DIR`, else that key in `$GEOZARR_PARAMS_DIR/params.json`, else
the built-in default. An empty string counts as unset at every level.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import bounded_json
from runner.errors import BadInput


def _as_list(raw: object) -> list[str]:
    if isinstance(raw, list):
        return [str(v) for v in raw]
    text = str(raw).strip()
    if text.startswith("["):
        try:
            value = bounded_json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON list: {getattr(exc, 'msg', exc)}") from exc
        if not isinstance(value, list):
            raise ValueError("not a JSON list")
        return [str(v) for v in value]
    return [part.strip() for part in text.split(",") if part.strip()]


def _as_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _as_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected an integer")  # noqa: TRY004 - resolve() maps ValueError to BadInput
    if isinstance(raw, int):
        return raw
    return int(str(raw).strip())


def _as_counts(raw: object) -> dict[str, int]:
    """A JSON object of positive integers (e.g. pods per product type)."""
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1
            for k, v in value.items()):
        raise ValueError("expected a JSON object of positive integers")
    return dict(value)


def _as_str(raw: object) -> str:
    return str(raw)


@dataclass(frozen=True)
class Param:
    key: str
    parse: Callable[[object], Any]
    default: Any
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def env(self) -> str:
        return self.key.upper()


PARAMS: dict[str, Param] = {
    p.key: p
    for p in (
        Param("source_url", _as_str, "", "the EOPF input product (s3://, https:// or a local path)"),
        Param("item_id", _as_str, "", "STAC item id (empty: derived from the source product's name)"),
        Param("collection", _as_str, "", "STAC collection id, also a path segment of the output"),
        Param("groups", _as_list, [], "groups to convert (absolute paths)"),
        Param("output_bucket", _as_str, "", "S3 bucket for outputs"),
        Param("output_prefix", _as_str, "", "key prefix inside the bucket"),
        Param("s3_endpoint", _as_str, "", "S3 API endpoint (sets AWS_ENDPOINT_URL when unset)"),
        Param("stac_api_url", _as_str, "", "the STAC API where items are registered"),
        Param("spatial_chunk", _as_int, 256, "spatial chunk edge of the output arrays"),
        Param("enable_sharding", _as_bool, False, "Zarr v3 sharding of the output"),
        Param("compression_level", _as_int, 3, "blosc zstd level 1-9"),
        Param("s1_groups", _as_list, ["/measurements"],
              "Sentinel-1 GRD: groups to convert inside each polarisation group"),
        Param("s1_gcp_group", _as_str, "/conditions/gcp",
              "Sentinel-1 GRD: the ground control points group inside each polarisation group"),
        Param("s1_crs_groups", _as_list, ["/conditions/gcp"],
              "Sentinel-1 GRD: groups given the CRS on a best-effort basis (--crs-groups)"),
        Param("s1_min_dimension", _as_int, 256,
              "Sentinel-1 GRD: no multiscales level with an edge below this many pixels"),
        Param("source_item_url", _as_str, "",
              "URL template of the source product's STAC item ({source_id}, {collection}, {item_id})"),
        Param("xyz_url", _as_str, "", "URL template of the item's XYZ tiles (rel xyz; empty: no link)"),
        Param("tilejson_url", _as_str, "", "URL template of the item's TileJSON (rel tilejson; empty: no link)"),
        Param("viewer_url", _as_str, "", "URL template of the item's viewer page (rel viewer; empty: no link)"),
        Param("fanout_parallelism", _as_counts, {},
              "pods converting one product at once, per product type (JSON; missing: 1)"),
    )
}


def _is_unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or value == []


def _params_dir_values(env: Mapping[str, str]) -> tuple[Path | None, dict[str, Any]]:
    raw = env.get("GEOZARR_PARAMS_DIR", "")
    if not raw:
        return None, {}
    directory = Path(raw)
    doc: dict[str, Any] = {}
    params_json = directory / "params.json"
    if params_json.is_file():
        try:
            loaded = bounded_json.loads(params_json.read_text())
        except (OSError, ValueError) as exc:
            raise BadInput(f"{params_json}: not readable JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise BadInput(f"{params_json}: expected a JSON object")
        doc = loaded
    return directory, doc


def resolve(
    key: str,
    flag_value: object = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Any:
    """The value of parameter `key` after the flag > env > file > params.json > default chain."""
    param = PARAMS[key]
    env = os.environ if env is None else env
    candidates: list[tuple[str, object]] = [(param.flag, flag_value), (param.env, env.get(param.env))]
    directory, doc = _params_dir_values(env)
    if directory is not None:
        single = directory / key
        if single.is_file():
            candidates.append((str(single), single.read_text().strip()))
        candidates.append((f"{directory / 'params.json'}:{key}", doc.get(key)))
    for source, value in candidates:
        if _is_unset(value):
            continue
        try:
            return param.parse(value)
        except ValueError as exc:
            raise BadInput(f"parameter {key} from {source}: {value!r}: {exc}") from exc
    return param.default


def apply_s3_endpoint(endpoint_flag: object = None) -> None:
    """`s3_endpoint` sets AWS_ENDPOINT_URL when that is not set already."""
    endpoint = resolve("s3_endpoint", endpoint_flag)
    if endpoint and not os.environ.get("AWS_ENDPOINT_URL"):
        os.environ["AWS_ENDPOINT_URL"] = endpoint
