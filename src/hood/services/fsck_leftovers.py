"""`hood fsck`'s leftovers: what an interrupted pull, removal or run legitimately leaves
and nothing uses. Layers no image or container uses, overlay2 directories no layer uses
and their short links, temp files, partial downloads, and the remains of containers.
None is an error; `--repair` removes each (but the layers of an image whose config
cannot be read, which are kept)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hood.core.digest import Digest
from hood.core.fileio import read_text, remove_tree
from hood.store.images import ImageStore
from hood.store.layout import Layout
from hood.store.lock import try_lock

Leftover = Callable[[Path | str, str, str, Callable[[], None] | None], None]
"""Reports one leftover: where it is, what it is, what to do, and how --repair removes it
(None: it does not)."""


def check_containers(layout: Layout, leftover: Leftover, doomed: set[str]) -> set[str]:
    """Container leftovers of killed runs: a read-write layer (layerdb/mounts/ID) with no
    container record, a container directory without config.v2.json, hood's part of a
    record without docker's, and `--rm` containers whose hood died. Each is removed with
    its read-write layer; returns the IDs of those containers (their overlay2 dirs are
    added to `doomed`)."""
    from hood.services.container_lifecycle import remove_leftover_container
    from hood.store.containers import ContainerStore

    records = {
        cid
        for cid in ContainerStore(layout).ids()
        if os.path.exists(os.path.join(layout.container_dir(cid), "config.v2.json"))
    }
    dead: set[str] = set()
    for cid, path, problem in _dead_containers(layout, records):
        dead.add(cid)
        layers = _layer_ids(layout, cid)
        doomed.update(layers)
        doomed.update(mid + "-init" for mid in layers)
        leftover(
            path,
            problem,
            "fsck --repair removes it",
            lambda cid=cid: remove_leftover_container(layout, cid),
        )
    return dead


def _dead_containers(layout: Layout, records: set[str]) -> Iterator[tuple[str, str, str]]:
    """Each leftover container once, by what is left of it (ID, path, what it is): its
    directory, else its read-write layer, else hood's record of it."""
    from hood.services.container_lifecycle import abandoned_auto_remove
    from hood.store.containers import is_container_id
    from hood.store.rwlayers import RwLayers

    rw = RwLayers(layout)
    dead_rm = {c.id for c in abandoned_auto_remove(layout)}
    for cid in sorted(os.listdir(layout.containers) if os.path.isdir(layout.containers) else []):
        if not is_container_id(cid):
            continue
        if cid not in records:
            problem = "container directory without config.v2.json (a create that was killed)"
            yield cid, layout.container_dir(cid), problem
        elif cid in dead_rm:
            problem = "container run with --rm whose hood was killed (docker would have removed it)"
            yield cid, layout.container_dir(cid), problem
    for cid in sorted(rw.container_ids()):
        if cid in records:
            continue
        if os.path.isdir(layout.container_dir(cid)):
            continue  # reported above with its directory
        problem = "read-write layer of no container (a run or rm that was killed)"
        yield cid, layout.layerdb_mount(cid), problem
    hood_containers = os.path.join(layout.hood_dir, "containers")
    if os.path.isdir(hood_containers):
        for cid in sorted(os.listdir(hood_containers)):
            if cid in records or os.path.isdir(layout.container_dir(cid)):
                continue
            if os.path.isdir(layout.layerdb_mount(cid)):
                continue  # reported above with its layer
            problem = "hood's record of a container docker's files do not have"
            yield cid, layout.hood_container_dir(cid), problem


def _layer_ids(layout: Layout, cid: str) -> list[str]:
    """The cache IDs of a container's read-write layer and its init layer, as far as
    layerdb/mounts/ID still tells them."""
    out = []
    for name in ("mount-id", "init-id"):
        with contextlib.suppress(OSError):
            out.append(read_text(Path(layout.layerdb_mount(cid)) / name))
    return [i for i in out if i]


@dataclass(frozen=True)
class _Extractions:
    """Layer extractions started and not finished (the entries of layout.incomplete, named
    by the cache ID of the overlay2 directory each writes)."""

    started: set[str]
    live: set[str]  # those a pull running right now holds: never leftovers

    @classmethod
    def of(cls, layout: Layout) -> _Extractions:
        incomplete = Path(layout.incomplete)
        started = {p.name for p in incomplete.iterdir()} if incomplete.is_dir() else set()
        return cls(started, {name for name in started if _held(incomplete / name)})


def check_unused(
    store: ImageStore,
    used_chains: set[Digest],
    unknown_images: list[Digest],
    doomed: set[str],
    leftover: Leftover,
) -> None:
    """What nothing uses, in this order: layers (none an image, a container or a pull uses;
    every one is kept if some image's layers cannot be told), overlay2 directories, short
    links, scratch files of pulls and temp files of writes. `doomed` holds the cache IDs
    of the overlay2 directories --repair removes, and gains those found here."""
    layout = store.layout
    referenced = _check_unused_layers(store, used_chains, unknown_images, doomed, leftover)
    referenced |= _rw_layer_ids(layout)
    extractions = _Extractions.of(layout)
    _check_layer_dirs(store, referenced, extractions, doomed, leftover)
    _check_short_links(layout, doomed, leftover)
    _check_scratch(layout, extractions, leftover)
    for tmp in _temp_files(Path(layout.image_dir)):
        leftover(
            tmp,
            "temporary file of an interrupted write",
            "fsck --repair removes it",
            lambda p=tmp: remove_tree(p),
        )


def _check_unused_layers(
    store: ImageStore,
    used_chains: set[Digest],
    unknown_images: list[Digest],
    doomed: set[str],
    leftover: Leftover,
) -> set[str]:
    """Layerdb entries nothing uses; returns the cache IDs of every entry's overlay2 dir."""
    layout = store.layout
    referenced: set[str] = set()
    for chain in store.layers.all_chain_ids():
        cache_id = None
        with contextlib.suppress(OSError):
            # Read as is: even a layer whose layerdb entry is damaged keeps its files.
            cache_id = read_text(Path(layout.layerdb(chain)) / "cache-id")
            referenced.add(cache_id)
        if chain in used_chains:
            continue
        if unknown_images:
            shown = ", ".join(i.short for i in unknown_images)
            leftover(
                layout.layerdb(chain),
                "layer no readable image uses; kept because the config of "
                f"{shown} cannot be read, so its layers are unknown",
                "fix or remove that image first (hood rmi -f), then fsck --repair",
                None,
            )
            continue
        leftover(
            layout.layerdb(chain),
            "layer no image or container uses (an interrupted pull or removal)",
            "the next pull of its image reuses it; fsck --repair removes it",
            lambda c=chain: store.layers.remove(c),
        )
        # Its overlay2 dir goes with it, and takes its short link along: that link is a
        # leftover now (one repair must leave a store the next fsck finds clean).
        if cache_id is not None:
            doomed.add(cache_id)
    return referenced


def _rw_layer_ids(layout: Layout) -> set[str]:
    """The cache IDs of containers' read-write layers (and their init layers)."""
    out: set[str] = set()
    mounts = Path(layout.layerdb_mounts)
    if mounts.is_dir():
        for entry in mounts.iterdir():
            for name in ("mount-id", "init-id"):
                with contextlib.suppress(OSError):
                    out.add(read_text(entry / name))
    return out


def _check_layer_dirs(
    store: ImageStore,
    referenced: set[str],
    extractions: _Extractions,
    doomed: set[str],
    leftover: Leftover,
) -> None:
    """overlay2 directories no layer uses; those found are added to `doomed`."""
    overlay2 = Path(store.layout.overlay2)
    layers = store.layers
    if not overlay2.is_dir():
        return
    for entry in overlay2.iterdir():
        if entry.name == "l" or entry.name in referenced or entry.name in extractions.live:
            continue
        base = entry.name.removesuffix("-init")
        if base in referenced:
            continue
        what = (
            "layer directory of an interrupted extraction"
            if entry.name in extractions.started
            else "layer directory no layer uses"
        )
        doomed.add(entry.name)
        leftover(
            entry,
            what,
            "fsck --repair removes it",
            lambda name=entry.name: layers.remove_layer_dir(name),
        )


def _check_short_links(layout: Layout, doomed: set[str], leftover: Leftover) -> None:
    """Short links leading nowhere, or to a directory --repair removes."""
    links = Path(layout.short_links)
    if not links.is_dir():
        return
    for link in sorted(links.iterdir()):
        target = os.readlink(link) if link.is_symlink() else ""
        parts = target.split("/")
        if not link.is_symlink() or not (links / target).exists():
            problem = "dangling short link"
        elif len(parts) == 3 and parts[0] == ".." and parts[1] in doomed:
            problem = "short link of a layer directory --repair removes"
        else:
            continue
        leftover(link, problem, "fsck --repair removes it", lambda p=link: p.unlink())


def _check_scratch(layout: Layout, extractions: _Extractions, leftover: Leftover) -> None:
    """What interrupted pulls leave in the scratch directories: temp files, partial
    downloads (kept so the next pull resumes), extractions; none a running pull holds."""
    tmp_dir, downloads = Path(layout.tmp), Path(layout.downloads)
    incomplete = Path(layout.incomplete)
    for scratch in (tmp_dir, downloads, incomplete):
        if not scratch.is_dir():
            continue
        for entry in scratch.iterdir():
            if entry.suffix == ".lock" or (scratch == incomplete and _held(entry)):
                continue
            if scratch == tmp_dir and entry.name.split(".", 1)[0] in extractions.live:
                continue
            lock = entry.with_suffix(".lock")
            if scratch == downloads and lock.exists() and _held(lock):
                continue
            problem = (
                "partial download kept so the next pull resumes"
                if scratch == downloads
                else "temporary file of an interrupted pull"
            )
            leftover(entry, problem, "fsck --repair removes it", lambda p=entry: remove_tree(p))


def _held(marker: Path) -> bool:
    fd = try_lock(marker)
    if fd is None:
        return True
    os.close(fd)
    return False


def _temp_files(base: Path) -> list[Path]:
    out: list[Path] = []
    if not base.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            if name.startswith(".") and (".tmp-" in name or ".removing-" in name):
                out.append(Path(dirpath) / name)
    return out
