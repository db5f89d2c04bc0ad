"""stac.href-resolves: every asset href (and alternate href) that we can reach resolves,
inside or outside --store, with or without it.

- a local path (or file://; relative to the item's file): stat;
- `s3://bucket/key`: one HEAD Object (credentials and AWS_ENDPOINT_URL from the env);
- `https://` on an allowlisted host: one HEAD without redirects. The S3 endpoint's host
  (AWS_ENDPOINT_URL) is always allowlisted, and its path-style URLs are resolved as `s3://`
  (the bucket may not be public); more hosts with `--href-host`;
- any other href is not resolved (an info finding says so).

A Zarr asset (its media type says zarr) resolves when its `zarr.json` (or a Zarr v2
`.zgroup`/`.zarray`) does: a store is a prefix, not an object. Nothing is listed or read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from conformance.findings import Finding, Rule, Severity

HREF = Rule("stac.href-resolves", Severity.ERROR,
            "every local, s3:// or allowlisted https:// asset href (and alternate href) resolves (stat/HEAD)")
HEAD_TIMEOUT = 10.0
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


@dataclass
class HrefResolver:
    """Resolves hrefs with stat or HEAD only; remembers answers for the run."""

    item_dir: Path
    hosts: frozenset[str] = frozenset()
    _fs: Any = None
    seen: dict[str, str | None] = field(default_factory=dict)

    def endpoint(self) -> str:
        return (os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") or "").rstrip("/")

    def scope(self, href: str) -> str:
        """'local', 's3', 'https' (allowlisted), or '' (not resolved)."""
        u = urlparse(href)
        if u.scheme in ("", "file"):
            return "local"
        if u.scheme == "s3":
            return "s3"
        if u.scheme in ("http", "https") and (u.netloc in self.hosts or self._as_s3(href)):
            return "https"
        return ""

    def _as_s3(self, href: str) -> str:
        """The s3:// URI of a path-style URL on the S3 endpoint, else ''."""
        endpoint = self.endpoint()
        if endpoint and href.startswith(endpoint + "/"):
            return "s3://" + href[len(endpoint) + 1:]
        return ""

    def missing(self, href: str, zarr: bool) -> str | None:
        """None when HREF resolves; else why not (one line)."""
        if not zarr:
            return self._missing_one(href)
        whys = [self._missing_one(f"{href.rstrip('/')}/{marker}") for marker in ZARR_MARKERS]
        if any(why is None for why in whys):
            return None
        return f"no Zarr metadata ({', '.join(ZARR_MARKERS)}) under it; {whys[0]}"

    def _missing_one(self, href: str) -> str | None:
        if href not in self.seen:
            self.seen[href] = self._resolve(href)
        return self.seen[href]

    def _resolve(self, href: str) -> str | None:
        u = urlparse(href)
        if u.scheme in ("", "file"):
            path = Path(u.path if u.scheme == "file" else href)
            path = path if path.is_absolute() else self.item_dir / path
            return None if path.exists() else f"no such file or directory: {path}"
        s3 = href if u.scheme == "s3" else self._as_s3(href)
        if s3:
            return self._head_s3(s3)
        return self._head_https(href)

    def _head_s3(self, uri: str) -> str | None:
        """One HEAD Object (boto3: credentials, region and AWS_ENDPOINT_URL from the env)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._fs is None:
            import boto3

            self._fs = boto3.client("s3", endpoint_url=self.endpoint() or None)
        bucket, _, key = uri[len("s3://"):].partition("/")
        try:
            self._fs.head_object(Bucket=bucket, Key=key)
            return None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            return f"no such object: {uri}" if code in ("404", "NoSuchKey", "NotFound") else \
                f"HEAD {uri} answered {code}"
        except BotoCoreError as exc:
            return f"cannot HEAD {uri}: {type(exc).__name__}"

    def _head_https(self, url: str) -> str | None:
        import requests

        try:
            resp = requests.head(url, timeout=HEAD_TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            return f"HEAD {url} failed: {type(exc).__name__}"
        return None if resp.status_code == 200 else f"HEAD {url} answered {resp.status_code}"


def _hrefs(item: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(JSON path, href, is a Zarr asset) of every asset href and alternate href."""
    for key, asset in sorted((item.get("assets") or {}).items()):
        if not isinstance(asset, dict):
            continue
        zarr = "zarr" in str(asset.get("type") or "").lower()
        if isinstance(asset.get("href"), str) and asset["href"]:
            yield f"assets.{key}.href", asset["href"], zarr
        for name, alt in sorted((asset.get("alternate") or {}).items()):
            if isinstance(alt, dict) and isinstance(alt.get("href"), str):
                yield f"assets.{key}.alternate.{name}.href", alt["href"], zarr


def check_hrefs(item: dict[str, Any], resolver: HrefResolver) -> Iterator[Finding]:
    for path, href, zarr in _hrefs(item):
        scope = resolver.scope(href)
        if not scope:
            yield Finding(rule=HREF.id, severity=Severity.INFO, path=path,
                          message=f"{href} not resolved: its host is not allowlisted (--href-host)")
            continue
        why = resolver.missing(href, zarr)
        if why is not None:
            yield HREF.finding(f"{href} does not resolve: {why}", path)
