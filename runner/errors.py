"""The runner's failure kinds and their exit codes.

Steps raise these at the edges; `runner.cli` turns them into one JSON log line
and the documented exit code (0 ok, 1 anything else, 2 bad input or
configuration, 3 transient remote failure: retried by Argo).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Final

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_TRANSIENT: Final = 3


class RunnerError(Exception):
    """An expected failure: reported as one line, no traceback."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class BadInput(RunnerError):
    """Bad input or configuration: never retried."""

    exit_code = EXIT_BAD_INPUT


class TransientFailure(RunnerError):
    """A remote failure worth retrying: S3 5xx, throttling, timeouts, refused connections."""

    exit_code = EXIT_TRANSIENT


# S3 / HTTP error codes meaning "try again later".
_TRANSIENT_CODES: Final = frozenset(
    {
        "500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
        "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
        "TooManyRequests", "429", "RequestLimitExceeded", "BandwidthLimitExceeded",
    }
)
# S3 error codes meaning "your input or configuration is wrong".
_BAD_INPUT_CODES: Final = frozenset(
    {
        "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
        "403", "404", "400", "InvalidBucketName", "AllAccessDisabled", "NoSuchKey",
    }
)
_TRANSIENT_MARKERS: Final = (
    "internal error", "internalerror", "service unavailable", "slow down", "slowdown",
    "throttl", "timed out", "timeout", "connection reset", "connection refused",
    "connection aborted", "remote end closed", "max retries exceeded", "temporarily",
    "503", "500 ", "(500)", "502", "504", "could not connect to the endpoint",
    "server disconnected", "cannot connect to host",
)
_CREDENTIAL_MARKERS: Final = ("unable to locate credentials", "nocredentialserror", "no credentials")


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code = str(err.get("Code", ""))
        if code:
            return code
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return ""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 20:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def classify(exc: BaseException, *, what: str) -> RunnerError:
    """Map an exception from storage, zarr or the converter to a RunnerError.

    `what` says what was being done ("read the input", "write the output").
    """
    if isinstance(exc, RunnerError):
        return exc
    chain = _chain(exc)
    for e in chain:
        code = _error_code(e)
        if code in _TRANSIENT_CODES:
            return TransientFailure(f"could not {what}: S3 said {code}: {e}", cause=type(e).__name__)
        if code in _BAD_INPUT_CODES:
            return BadInput(f"could not {what}: S3 said {code}: {e}", cause=type(e).__name__)
    for e in chain:
        name = type(e).__name__
        text = f"{name} {e}".lower()
        if any(m in text for m in _CREDENTIAL_MARKERS):
            return BadInput(f"could not {what}: no S3 credentials (set AWS_ACCESS_KEY_ID and "
                            f"AWS_SECRET_ACCESS_KEY)", cause=name)
        if isinstance(e, (TimeoutError, asyncio.TimeoutError, socket.timeout, ConnectionError)):
            return TransientFailure(f"could not {what}: {name}: {e}", cause=name)
        if name in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                    "ClientConnectorError", "ServerDisconnectedError", "ConnectionClosedError",
                    "ClientOSError", "ServerTimeoutError", "ResponseParserError"}:
            return TransientFailure(f"could not {what}: {name}: {e}", cause=name)
        if any(m in text for m in _TRANSIENT_MARKERS):
            return TransientFailure(f"could not {what}: {name}: {e}", cause=name)
    for e in chain:
        if isinstance(e, FileNotFoundError):
            return BadInput(f"could not {what}: not found: {e}", cause="FileNotFoundError")
        if isinstance(e, PermissionError) or (isinstance(e, OSError) and e.errno == errno.EACCES):
            return BadInput(f"could not {what}: permission denied: {e}", cause=type(e).__name__)
        if type(e).__name__ in {"GroupNotFoundError", "NodeNotFoundError", "ArrayNotFoundError",
                                "ContainsGroupError", "ContainsArrayError"}:
            return BadInput(f"could not {what}: {e}", cause=type(e).__name__)
    return RunnerError(f"could not {what}: {type(exc).__name__}: {exc}", cause=type(exc).__name__)
