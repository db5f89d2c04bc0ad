"""Importing eopf-geozarr without an unbounded network wait.

eopf-geozarr 0.12 downloads the CF standard-name table from GitHub *at import time*
with `urllib.request.urlopen` and no timeout. Where egress is refused it warns and
carries on (name validation off); where packets are dropped (the pipeline's
NetworkPolicy allows only DNS, the object store and the STAC API) the connect could
hang for minutes. Every import of the converter goes through `import_converter()`,
which bounds that download by a socket default timeout for the import only.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_TIMEOUT_S = 5.0


@contextmanager
def socket_timeout(seconds: float) -> Iterator[None]:
    """Sockets created inside the block time out after SECONDS (the previous default after)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def import_converter() -> None:
    """Import `eopf_geozarr` once, its import-time download bounded by
    `GEOZARR_IMPORT_NETWORK_TIMEOUT` seconds (default 5)."""
    if "eopf_geozarr" in sys.modules:
        return
    seconds = float(os.environ.get("GEOZARR_IMPORT_NETWORK_TIMEOUT") or DEFAULT_TIMEOUT_S)
    with socket_timeout(seconds):
        import eopf_geozarr  # noqa: F401
