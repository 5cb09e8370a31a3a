"""`docker history`: one row per history entry, newest first, with per-layer sizes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hood.core.digest import Digest, chain_ids
from hood.core.errors import ManifestError
from hood.core.timefmt import GoTime, human_duration, parse_go_time
from hood.store.images import ImageRecord, ImageStore


@dataclass(frozen=True)
class HistoryRow:
    id: str  # the image ID on the newest row, "<missing>" below it (docker has no parents here)
    created: GoTime | None
    created_by: str
    size: int
    comment: str
    tags: list[str]


def image_history(store: ImageStore, record: ImageRecord) -> list[HistoryRow]:
    diff_ids = list(record.config.diff_ids)
    chains = chain_ids(diff_ids)
    rows: list[HistoryRow] = []
    layer = 0
    for entry in record.config.history():
        size = 0
        if not entry.empty_layer:
            if layer >= len(diff_ids):
                raise ManifestError(
                    f"image {record.id.short}: too many non-empty layers in History section"
                )
            stored = store.layers.get(chains[layer])
            size = stored.size if stored else 0
            layer += 1
        rows.append(
            HistoryRow(
                "<missing>",
                parse_go_time(entry.created),
                entry.created_by,
                size,
                entry.comment,
                [],
            )
        )
    rows.reverse()
    if rows:
        top = rows[0]
        rows[0] = HistoryRow(
            str(record.id), top.created, top.created_by, top.size, top.comment, record.repo_tags
        )
    return rows


def short_id(value: str) -> str:
    if value == "<missing>":
        return value
    try:
        return Digest.parse(value).short
    except Exception:  # noqa: BLE001 - show what we have
        return value[:12]


# docker's history formatter shows no age for anything created before 2000.
_EPOCH_2000 = 946684800


def created_at(created: GoTime | None) -> str:
    """time.Unix(created, 0).Format(time.RFC3339), in the local time zone as docker's CLI."""
    seconds = int(created.whole.timestamp()) if created else 0
    local = datetime.fromtimestamp(seconds, UTC).astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def created_since(created: GoTime | None, now: datetime) -> str:
    """`3 years ago`; empty for a time at or before 2000-01-01 (or none at all)."""
    seconds = int(created.whole.timestamp()) if created else 0
    if seconds <= _EPOCH_2000:
        return ""
    return human_duration(now - datetime.fromtimestamp(seconds, UTC)) + " ago"


def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: fit `text` in `width` display columns (wide East Asian
    characters take two), the last one becoming '…' when it is cut."""
    if width <= 0:
        return ""
    if width == 1:
        return text[:1]
    total = 0
    keep = 0  # characters that fit in width - 1 columns
    for ch in text:
        total += _char_width(ch)
        if total <= width - 1:
            keep += 1
    if total <= width:
        return text
    return text[:keep] + "…"
