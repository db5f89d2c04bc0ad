"""What a backfill asks for, checked before anything is queried or submitted.

A `BackfillRequest` is the collection, the datetime window, an optional bbox and ids list and
the hard limit. `parse_request` turns flag values into one, or raises `BadInput` with one line
naming the bad value: inverted or empty windows, malformed bboxes and limits <= 0 never reach a
catalog.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from runner.errors import BadInput

COLLECTION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
MAX_IDS = 1_000_000


@dataclass(frozen=True)
class BackfillRequest:
    collection: str
    start: datetime
    end: datetime
    bbox: tuple[float, float, float, float] | None
    ids: tuple[str, ...]
    limit: int

    @property
    def datetime_range(self) -> str:
        """The STAC API `datetime` interval."""
        return f"{_iso(self.start)}/{_iso(self.end)}"

    def to_dict(self) -> dict[str, object]:
        return {"collection": self.collection, "datetime": self.datetime_range,
                "bbox": list(self.bbox) if self.bbox else None, "ids": list(self.ids),
                "limit": self.limit}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime(text: str, what: str) -> datetime:
    """An ISO 8601 date or date-time; a naive one is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{what} {text!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """`W,S,E,N` in degrees (W may exceed E across the antimeridian)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise BadInput(f"bbox {text!r} is not four numbers W,S,E,N") from None
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise BadInput(f"bbox {text!r}: longitudes must be within -180..180")
    if not (-90 <= south <= 90 and -90 <= north <= 90) or south > north:
        raise BadInput(f"bbox {text!r}: latitudes must be within -90..90 with S <= N")
    return west, south, east, north


def parse_ids(lines: Sequence[str]) -> tuple[str, ...]:
    """Item ids, one per line (blank lines and `#` comments ignored), each a valid identifier."""
    ids = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if len(ids) > MAX_IDS:
        raise BadInput(f"ids file lists {len(ids)} ids, more than {MAX_IDS}")
    for number, item_id in enumerate(ids, 1):
        if not COLLECTION_PATTERN.match(item_id):
            raise BadInput(f"ids file, entry {number}: {item_id!r} is not a valid item id "
                           f"({COLLECTION_PATTERN.pattern})")
    return tuple(dict.fromkeys(ids))


def parse_request(*, collection: str, start: str, end: str, bbox: str = "",
                  ids: Sequence[str] = (), limit: int) -> BackfillRequest:
    """A checked request, or BadInput naming the first bad value."""
    if not COLLECTION_PATTERN.match(collection or ""):
        raise BadInput(f"collection {collection!r} is not a valid collection id "
                       f"({COLLECTION_PATTERN.pattern})")
    begin, finish = parse_datetime(start, "--from"), parse_datetime(end, "--to")
    if begin > finish:
        raise BadInput(f"--from {start} is after --to {end}: the window is inverted")
    if begin == finish:
        raise BadInput(f"--from and --to are both {start}: the window is empty")
    if limit <= 0:
        raise BadInput(f"--limit must be a positive number of products, not {limit}")
    return BackfillRequest(collection, begin, finish, parse_bbox(bbox) if bbox else None,
                           parse_ids(ids), limit)
