"""Kubernetes resource quantities (`resource.Quantity`), as the API server parses them.

The grammar is Kubernetes' own (`k8s.io/apimachinery/pkg/api/resource`), the same regular
expression the CRDs carry for their quantity fields: a signed decimal number, then either a
binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m k M G T P E) or a decimal exponent
(`1e3`). So `2Gi`, `500m`, `1e3`, `0.5` are quantities; `2GB`, `50 Gi`, `1.5 G` are not.
"""

from __future__ import annotations

PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
