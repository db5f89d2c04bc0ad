"""An Argo object as Argo's own Go types decode it, before its CRD schema is checked.

`argo lint`, `argo submit` and the controller read manifests into Go structs and send those to
the API server, so a few spellings the CRD's schema alone would refuse are valid Argo:
- parameter `value`, `default`, `enum` items and `valueFrom.default` are `AnyString`, which
  decodes a number or a boolean into its text (`value: 3` is `"3"`);
- a Prometheus gauge's `realtime` is a `*bool`: absent means false, though the CRD (generated
  from a field without `omitempty`) lists it as required.
`as_decoded` returns the object with exactly those spellings normalised (the original when there
is nothing to change); the semantic lint still reads the object as written.
"""

from __future__ import annotations

from typing import Any

_ANY_STRING = ("value", "default")


def _any_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _parameter(param: Any) -> Any:
    if not isinstance(param, dict):
        return param
    out = dict(param)
    for key in _ANY_STRING:
        if key in out:
            out[key] = _any_string(out[key])
    if isinstance(out.get("enum"), list) and any(_any_string(v) is not v for v in out["enum"]):
        out["enum"] = [_any_string(v) for v in out["enum"]]
    value_from = out.get("valueFrom")
    if isinstance(value_from, dict) and _any_string(value_from.get("default")) is not value_from.get("default"):
        out["valueFrom"] = dict(out["valueFrom"], default=_any_string(out["valueFrom"]["default"]))
    return out if any(out[k] is not param[k] for k in out) else param


def as_decoded(node: Any) -> Any:
    """NODE with AnyString parameters stringified and gauges' `realtime` defaulted."""
    if isinstance(node, list):
        items = [as_decoded(v) for v in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    changed = False
    for key, value in node.items():
        if key == "parameters" and isinstance(value, list):
            params = [_parameter(as_decoded(p)) for p in value]
            new = params if any(a is not b for a, b in zip(params, value, strict=True)) else value
        elif key == "gauge" and isinstance(value, dict) and "realtime" not in value:
            new = dict(as_decoded(value), realtime=False)
        else:
            new = as_decoded(value)
        changed = changed or new is not value
        out[key] = new
    return out if changed else node
