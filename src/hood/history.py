"""`docker history`: one row per history entry, newest first, with per-layer sizes."""

from __future__ import annotations

from dataclasses import dataclass

from hood.digest import Digest, chain_ids
from hood.errors import ManifestError
from hood.store.images import ImageRecord, ImageStore
from hood.timefmt import GoTime, parse_go_time


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
