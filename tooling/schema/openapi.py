"""A CRD's structural `openAPIV3Schema` as a strict JSON Schema (draft 2020-12).

What the API server does with a custom resource, written as JSON Schema so that `jsonschema`
walks it once:
- unknown fields are errors (`kubectl apply --validate=strict`): an object schema gets
  `additionalProperties: false` unless it declares `additionalProperties` or
  `x-kubernetes-preserve-unknown-fields: true`;
- `nullable: true` adds `null` to the type; `x-kubernetes-int-or-string` is integer or string
  (a `pattern` beside it, as for resource quantities, applies to the string form only);
- `allOf`/`anyOf`/`oneOf`/`not` are value validations: their sub-schemas never add
  `additionalProperties: false` (in a structural schema they cannot declare fields);
- `x-kubernetes-validations` (CEL) and `x-kubernetes-list-type` / `-list-map-keys` are kept as
  keywords that `tooling.schema.crds` evaluates during the same walk;
- the root `metadata` is Kubernetes' ObjectMeta (`OBJECT_META`), as the API server validates it,
  and so is an `x-kubernetes-embedded-resource` object's (with its apiVersion and kind).

Descriptions, defaults and printer hints are dropped: they do not validate anything.
"""

from __future__ import annotations

from typing import Any

OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Keywords copied as they are (same meaning in OpenAPI v3 and JSON Schema 2020-12).
_VALUE_KEYWORDS = (
    "enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
    "minProperties", "maxProperties", "multipleOf", "required", "uniqueItems",
)
# Formats the API server checks (kube-openapi's strfmt registry); others are annotations.
CHECKED_FORMATS = ("byte", "date-time")
# Kubernetes' own keywords, kept for the walk in tooling.schema.crds.
EXTENSIONS = ("x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys")
_COMBINATORS = ("allOf", "anyOf", "oneOf")


def _type(node: dict[str, Any]) -> list[str] | str | None:
    if node.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif isinstance(node.get("type"), str):
        types = [node["type"]]
    else:
        return None
    if node.get("nullable"):
        types.append("null")
    return types[0] if len(types) == 1 else types


def _bounds(node: dict[str, Any], out: dict[str, Any]) -> None:
    """OpenAPI v3's boolean exclusiveMinimum/Maximum are numbers in JSON Schema 2020-12."""
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(flag) is True and bound in out:
            out[flag] = out.pop(bound)


def _object(node: dict[str, Any], out: dict[str, Any], structural: bool) -> None:
    properties = node.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {k: convert(v, structural) for k, v in properties.items()}
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = convert(extra, structural)
    elif extra is True or node.get("x-kubernetes-preserve-unknown-fields"):
        pass
    elif structural and node.get("type") == "object":
        out["additionalProperties"] = False


def convert(node: Any, structural: bool = True) -> dict[str, Any]:
    """The JSON Schema of one OpenAPI v3 schema node. `structural=False` inside value
    validations (allOf/anyOf/oneOf/not), where no field is declared and none is forbidden."""
    if not isinstance(node, dict):
        return {}
    out: dict[str, Any] = {}
    if structural:
        t = _type(node)
        if t is not None:
            out["type"] = t
    for key in _VALUE_KEYWORDS:
        if key in node:
            out[key] = node[key]
    _bounds(node, out)
    if node.get("format") in CHECKED_FORMATS:
        out["format"] = node["format"]
    if structural or "properties" in node or "additionalProperties" in node:
        _object(node, out, structural)
    if "items" in node:
        out["items"] = convert(node["items"], structural)
    for key in _COMBINATORS:
        if isinstance(node.get(key), list) and not node.get("x-kubernetes-int-or-string"):
            out[key] = [convert(sub, structural=False) for sub in node[key]]
    if isinstance(node.get("not"), dict):
        out["not"] = convert(node["not"], structural=False)
    for key in EXTENSIONS:
        if key in node:
            out[key] = node[key]
    if structural and node.get("x-kubernetes-embedded-resource"):
        _object_fields(out)
    return out


def _object_fields(schema: dict[str, Any]) -> None:
    """apiVersion, kind and metadata (ObjectMeta) of an object, root or embedded."""
    properties = schema.setdefault("properties", {})
    properties["metadata"] = {"$ref": OBJECT_META}
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})


def resource_schema(open_api: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a whole custom resource (one CRD version)."""
    schema = convert(open_api)
    _object_fields(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema"} | schema
