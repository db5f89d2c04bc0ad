"""Credentials never leave in a URL: `https://user:secret@host/…` is logged and output as
`https://***@host/…` (`mask`), and URLs handed on to others (item links, `item_url`) drop them
(`without_credentials`). `runner.events` masks every line it writes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/@]+@")


def mask(text: str) -> str:
    """TEXT with the user-info part of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text) if "@" in text else text


def without_credentials(url: str) -> str:
    """URL without its user-info (`https://u:p@host/x` -> `https://host/x`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def mask_value(value: object) -> object:
    """`mask` applied to every string inside VALUE (dicts, lists, tuples)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v) for v in value]
    return value
