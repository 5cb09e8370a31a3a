"""`hood fsck`: re-verify the data root and name what is wrong, where, and what to do.

Two kinds of finding: errors (something stored is not what it claims to be: a
config that does not hash to its ID, a layer whose files no longer rebuild its
diff_id, a tag naming a missing image) and leftovers (what an interrupted pull or
removal legitimately leaves: unused layers, temp files, partial downloads). Errors
make fsck fail; leftovers are reported and `--repair` removes them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hood.core.digest import Digest, InvalidDigest, chain_ids
from hood.core.errors import HoodError
from hood.core.fileio import remove_tree, write_atomic
from hood.core.imageconfig import ImageConfig
from hood.services.images import container_layers
from hood.store.images import ImageStore
from hood.store.layers import MAX_DEPTH, TAR_SPLIT
from hood.store.layout import Layout
from hood.store.lock import try_lock


class Severity(StrEnum):
    ERROR = "error"
    LEFTOVER = "leftover"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    path: str
    problem: str
    fix: str
    repair: Callable[[], None] | None = None


def check_store(
    store: ImageStore,
    only: list[Digest] | None = None,
    *,
    verify_content: bool = True,
) -> list[Finding]:
    layout = store.layout
    findings: list[Finding] = []

    def error(
        path: Path | str, problem: str, fix: str, repair: Callable[[], None] | None = None
    ) -> None:
        findings.append(Finding(Severity.ERROR, str(path), problem, fix, repair))

    def leftover(path: Path | str, problem: str, fix: str, repair: Callable[[], None]) -> None:
        findings.append(Finding(Severity.LEFTOVER, str(path), problem, fix, repair))

    # --- images: config bytes, and every layer of each --------------------------------
    image_ids = store.image_ids()
    try:
        all_refs = store.references()
    except HoodError:
        all_refs = {}
    names: dict[Digest, list[str]] = {}
    for key, target in sorted(all_refs.items()):
        names.setdefault(target, []).append(key)

    def redo(image_id: Digest) -> str:
        """What to run to get a good copy of an image back."""
        refs = names.get(image_id, [])
        pulls = [r for r in refs if "@" not in r] or refs
        again = f", then hood pull {pulls[0]}" if pulls else ", then pull it again"
        return f"hood rmi -f {refs[0] if refs else image_id.short}{again}"

    used_chains: set[Digest] = set()
    unknown_layers: list[Digest] = []  # images whose layers cannot be told: keep every layer
    layer_images: dict[Digest, list[Digest]] = {}
    image_chains: list[tuple[Digest, ImageConfig, list[Digest]]] = []
    for image_id in image_ids:
        path = Path(layout.imagedb_content(image_id))
        try:
            raw = path.read_bytes()
        except OSError as exc:
            error(path, f"unreadable image config: {exc}", redo(image_id))
            unknown_layers.append(image_id)
            continue
        try:
            config: ImageConfig | None = ImageConfig.parse(raw, what=f"image config {path}")
        except HoodError:
            config = None
        if config is not None:
            # Even a config that fails its hash below keeps its layers from --repair.
            used_chains.update(chain_ids(list(config.diff_ids)))
        else:
            unknown_layers.append(image_id)
        if Digest.of_bytes(raw) != image_id:
            error(
                path,
                f"image config does not hash to its image ID {image_id.short} "
                "(changed or truncated)",
                redo(image_id),
            )
            continue
        if config is None:
            error(path, "image config is not a valid image config JSON", redo(image_id))
            continue
        chains = chain_ids(list(config.diff_ids))
        if len(chains) > MAX_DEPTH and (only is None or image_id in only):
            error(
                path,
                f"image {image_id.short} has {len(chains)} layers, more than the {MAX_DEPTH} "
                "an image may have (max depth exceeded): it cannot be mounted or run",
                redo(image_id).split(", then")[0],
            )
        for chain in chains:
            layer_images.setdefault(chain, []).append(image_id)
        if only is None or image_id in only:
            image_chains.append((image_id, config, chains))
    checked_layers: set[Digest] = set()
    for _image_id, config, chains in image_chains:
        for i, chain in enumerate(chains):
            if chain in checked_layers:
                continue
            checked_layers.add(chain)
            users = layer_images.get(chain, [])
            fix = "; ".join(redo(u) for u in users) or "pull the image again"
            _check_layer(
                store,
                chain,
                config.diff_ids[i],
                chains[i - 1] if i else None,
                verify_content,
                error,
                fix,
            )
    doomed: set[str] = set()  # cache IDs of overlay2 dirs --repair removes
    dead_containers = _check_containers(
        layout, leftover if only is None else (lambda *_: None), doomed
    )
    used_chains.update(container_layers(store, exclude=dead_containers))
    used_chains.update(store.layers.leased())  # a pull in progress counts on these

    # --- references ---------------------------------------------------------------------
    try:
        refs = store.references()
    except HoodError as exc:
        error(
            layout.repositories_json, str(exc), "restore it from a backup, or delete it and re-tag"
        )
        refs = {}
    for key, target in refs.items():
        if not store.has_image(target):
            error(
                layout.repositories_json,
                f"{key} points to {target.short}, which is not in imagedb (dangling tag)",
                f"hood rmi {key}, or fsck --repair",
                lambda key=key: store.remove_reference(key),
            )

    # --- manifests as pulled --------------------------------------------------------------
    manifests = Path(layout.hood_dir) / "manifests" / "sha256"
    if manifests.is_dir():
        for entry in manifests.iterdir():
            if entry.name.startswith("."):
                continue
            try:
                expected = Digest.parse("sha256:" + entry.name)
            except InvalidDigest:
                leftover(entry, "not a manifest file", "remove it", lambda p=entry: remove_tree(p))
                continue
            if Digest.of_bytes(entry.read_bytes()) != expected:
                error(
                    entry,
                    f"manifest does not hash to {expected.short}",
                    "pull the image again",
                    lambda p=entry: p.unlink(),
                )

    if only is not None:
        return findings

    # --- what nothing uses ------------------------------------------------------------------
    referenced_cache_ids: set[str] = set()
    for chain in store.layers.all_chain_ids():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            # Read as is: even a layer whose layerdb entry is damaged keeps its files.
            referenced_cache_ids.add((Path(layout.layerdb(chain)) / "cache-id").read_text().strip())
        if chain in used_chains:
            continue
        if unknown_layers:
            shown = ", ".join(i.short for i in unknown_layers)
            findings.append(
                Finding(
                    Severity.LEFTOVER,
                    str(layout.layerdb(chain)),
                    "layer no readable image uses; kept because the config of "
                    f"{shown} cannot be read, so its layers are unknown",
                    "fix or remove that image first (hood rmi -f), then fsck --repair",
                )
            )
            continue
        leftover(
            layout.layerdb(chain),
            "layer no image or container uses (an interrupted pull or removal)",
            "the next pull of its image reuses it; fsck --repair removes it",
            lambda c=chain: store.layers.remove(c),
        )
    # overlay2 dirs --repair removes take their short links with them: those links are
    # leftovers now (one repair must leave a store the next fsck finds clean).
    if not unknown_layers:
        for chain in store.layers.all_chain_ids():
            if chain not in used_chains:
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    doomed.add((Path(layout.layerdb(chain)) / "cache-id").read_text().strip())
    mounts = Path(layout.layerdb_mounts)
    if mounts.is_dir():
        for entry in mounts.iterdir():
            for name in ("mount-id", "init-id"):
                with contextlib.suppress(OSError):
                    referenced_cache_ids.add((entry / name).read_text().strip())
    incomplete = Path(layout.incomplete)
    in_progress = {p.name for p in incomplete.iterdir()} if incomplete.is_dir() else set()
    # What a pull running right now is writing: never a leftover, never repaired away.
    live = {name for name in in_progress if _held(incomplete / name)}
    overlay2 = Path(layout.overlay2)
    layers = store.layers
    if overlay2.is_dir():
        for entry in overlay2.iterdir():
            if entry.name == "l" or entry.name in referenced_cache_ids or entry.name in live:
                continue
            base = entry.name.removesuffix("-init")
            if base in referenced_cache_ids:
                continue
            what = (
                "layer directory of an interrupted extraction"
                if entry.name in in_progress
                else "layer directory no layer uses"
            )
            doomed.add(entry.name)
            leftover(
                entry,
                what,
                "fsck --repair removes it",
                lambda name=entry.name: layers.remove_layer_dir(name),
            )
    links = Path(layout.short_links)
    if links.is_dir():
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
    tmp_dir, downloads = Path(layout.tmp), Path(layout.downloads)
    for scratch in (tmp_dir, downloads, incomplete):
        if not scratch.is_dir():
            continue
        for entry in scratch.iterdir():
            if entry.suffix == ".lock" or (scratch == incomplete and _held(entry)):
                continue
            if scratch == tmp_dir and entry.name.split(".", 1)[0] in live:
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
    for tmp in _temp_files(Path(layout.image_dir)):
        leftover(
            tmp,
            "temporary file of an interrupted write",
            "fsck --repair removes it",
            lambda p=tmp: remove_tree(p),
        )
    return findings


def _check_containers(
    layout: Layout, leftover: Callable[..., None], doomed: set[str]
) -> set[str]:
    """Container leftovers of killed runs: a read-write layer (layerdb/mounts/ID) with no
    container record, a container directory without config.v2.json, hood's part of a
    record without docker's, and `--rm` containers whose hood died. Each is removed with
    its read-write layer; returns the IDs of those containers (their overlay2 dirs are
    added to `doomed`)."""
    from hood.services.container_lifecycle import abandoned_auto_remove, remove_leftover_container
    from hood.store.containers import ContainerStore, is_container_id
    from hood.store.rwlayers import RwLayers

    rw = RwLayers(layout)
    store = ContainerStore(layout)
    dead: set[str] = set()
    records = {
        cid
        for cid in store.ids()
        if os.path.exists(os.path.join(layout.container_dir(cid), "config.v2.json"))
    }

    def layer_ids(cid: str) -> list[str]:
        out = []
        for name in ("mount-id", "init-id"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                out.append((Path(layout.layerdb_mount(cid)) / name).read_text().strip())
        return [i for i in out if i]

    def gone(cid: str, path: str, problem: str) -> None:
        dead.add(cid)
        doomed.update(layer_ids(cid))
        for mid in layer_ids(cid):
            doomed.add(mid + "-init")
        leftover(
            path,
            problem,
            "fsck --repair removes it",
            lambda cid=cid: remove_leftover_container(layout, cid),
        )

    dead_rm = {c.id for c in abandoned_auto_remove(layout)}
    for cid in sorted(os.listdir(layout.containers) if os.path.isdir(layout.containers) else []):
        if not is_container_id(cid):
            continue
        if cid not in records:
            gone(
                cid,
                layout.container_dir(cid),
                "container directory without config.v2.json (a create that was killed)",
            )
        elif cid in dead_rm:
            gone(
                cid,
                layout.container_dir(cid),
                "container run with --rm whose hood was killed (docker would have removed it)",
            )
    for cid in sorted(rw.container_ids()):
        if cid in records:
            continue
        if os.path.isdir(layout.container_dir(cid)):
            continue  # reported above with its directory
        gone(
            cid,
            layout.layerdb_mount(cid),
            "read-write layer of no container (a run or rm that was killed)",
        )
    hood_containers = os.path.join(layout.hood_dir, "containers")
    if os.path.isdir(hood_containers):
        for cid in sorted(os.listdir(hood_containers)):
            if cid in records or os.path.isdir(layout.container_dir(cid)):
                continue
            if os.path.isdir(layout.layerdb_mount(cid)):
                continue  # reported above with its layer
            gone(
                cid,
                layout.hood_container_dir(cid),
                "hood's record of a container docker's files do not have",
            )
    return dead


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


def _check_layer(
    store: ImageStore,
    chain: Digest,
    diff_id: Digest,
    parent: Digest | None,
    verify_content: bool,
    error: Callable[..., None],
    fix: str = "remove the image and pull it again",
) -> None:
    layout = store.layout
    meta = Path(layout.layerdb(chain))
    try:
        record = store.layers.get(chain)
    except HoodError as exc:
        error(meta, str(exc), fix)
        return
    if record is None:
        error(meta, f"layer {chain.short} is missing from layerdb", fix)
        return
    if record.diff_id != diff_id:
        error(
            meta / "diff",
            f"layer {chain.short} records diff ID {record.diff_id}, the image says {diff_id}",
            fix,
        )
    # The chain ID itself is computed by the caller from these very diff IDs; a
    # layerdb entry that lies about them is caught by the diff and parent checks.
    if record.parent != parent:
        error(
            meta / "parent",
            f"parent is {record.parent}, the chain says {parent}",
            fix,
        )
    layer_dir = Path(layout.layer_dir(record.cache_id))
    diff_dir = Path(record.diff_dir)
    if not diff_dir.is_dir():
        error(
            layer_dir,
            f"layer {chain.short}: overlay2 directory is missing",
            fix,
        )
        return
    link = layout.short_link(record.link_id) if record.link_id else None
    if link is None or os.path.realpath(link) != os.path.realpath(record.diff_dir):
        error(
            layer_dir / "link",
            f"layer {chain.short}: short link l/{record.link_id or '?'} does not lead to its diff dir",
            "fsck --repair recreates it",
            lambda: _relink(store, record.cache_id, record.link_id),
        )
    tar_split = meta / TAR_SPLIT
    if not tar_split.exists():
        error(
            tar_split,
            f"layer {chain.short}: no tar-split metadata, its diff ID cannot be checked",
            fix,
        )
        return
    from hood.services.validate import check_layer

    changed = f"the layer's files were changed after the pull: {fix}"
    found = check_layer(store, chain, rebuild=verify_content)
    for diff in found.differences:
        where = diff_dir / diff.path if diff.path else diff_dir
        what = f"{diff.path}: {diff.what}" if diff.path else diff.what
        error(where, f"layer {chain.short}: {what}", changed)
    if not verify_content:
        return
    if found.rebuilt is None:
        error(
            record.diff_dir,
            f"layer {chain.short}: its files do not rebuild the layer tar: {found.error}",
            changed,
        )
        return
    if found.rebuilt != diff_id:
        error(
            record.diff_dir,
            f"layer {chain.short}: files rebuild to {found.rebuilt}, not its diff ID {diff_id}",
            changed,
        )


def _relink(store: ImageStore, cache_id: str, link_id: str) -> None:
    from hood.store.layers import new_link_id

    os.makedirs(store.layout.short_links, exist_ok=True)
    if not link_id:
        link_id = new_link_id()
        write_atomic(os.path.join(store.layout.layer_dir(cache_id), "link"), link_id)
    link = store.layout.short_link(link_id)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    os.symlink(f"../{cache_id}/diff", link)


def repair(findings: list[Finding]) -> list[Finding]:
    """Run the repairs of the findings that have one; returns those repaired."""
    done = []
    for finding in findings:
        if finding.repair is None:
            continue
        with contextlib.suppress(FileNotFoundError):
            finding.repair()
        done.append(finding)
    return done


def findings_json(findings: list[Finding]) -> list[dict[str, str]]:
    return [
        {"severity": f.severity.value, "path": f.path, "problem": f.problem, "fix": f.fix}
        for f in findings
    ]
