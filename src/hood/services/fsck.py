"""`hood fsck`: re-verify the data root and name what is wrong, where, and what to do.

Two kinds of finding: errors (something stored is not what it claims to be: a
config that does not hash to its ID, a layer whose files no longer rebuild its
diff_id, a tag naming a missing image) and leftovers (what an interrupted pull or
removal legitimately leaves: unused layers, temp files, partial downloads). Errors
make fsck fail; leftovers are reported and `--repair` removes them.

Here: images, the layers they need, references and pulled manifests, in that order;
the leftovers are looked for in fsck_leftovers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from hood.core.digest import Digest, InvalidDigest, chain_ids
from hood.core.errors import HoodError
from hood.core.fileio import remove_tree, write_atomic
from hood.core.imageconfig import ImageConfig
from hood.services.fsck_leftovers import check_containers, check_unused
from hood.services.images import container_layers
from hood.store.images import ImageStore
from hood.store.layers import MAX_DEPTH, TAR_SPLIT, LayerRecord
from hood.store.layout import Layout


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


@dataclass
class _Report:
    """The findings in the order they are found, which is the order fsck prints them."""

    findings: list[Finding] = field(default_factory=list)

    def error(
        self, path: Path | str, problem: str, fix: str, repair: Callable[[], None] | None = None
    ) -> None:
        self.findings.append(Finding(Severity.ERROR, str(path), problem, fix, repair))

    def leftover(
        self, path: Path | str, problem: str, fix: str, repair: Callable[[], None] | None
    ) -> None:
        self.findings.append(Finding(Severity.LEFTOVER, str(path), problem, fix, repair))


def _ignore(*_: object) -> None:
    pass


def check_store(
    store: ImageStore,
    only: list[Digest] | None = None,
    *,
    verify_content: bool = True,
) -> list[Finding]:
    """Every image (or those of `only`) and the layers they need; references and pulled
    manifests; then, for the whole store only, what nothing uses."""
    report = _Report()
    images = _check_images(store, only, report)
    _check_image_layers(store, images, verify_content, report)
    doomed: set[str] = set()  # cache IDs of overlay2 dirs --repair removes
    # Leftover containers are the whole store's business, not that of some images; their
    # layers are still told apart from those a live container uses.
    dead = check_containers(store.layout, report.leftover if only is None else _ignore, doomed)
    images.used_chains.update(container_layers(store, exclude=dead))
    images.used_chains.update(store.layers.leased())  # a pull in progress counts on these
    _check_references(store, report)
    _check_manifests(store.layout, report)
    if only is None:
        check_unused(store, images.used_chains, images.unknown, doomed, report.leftover)
    return report.findings


# --- images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    """Each image's references, for the commands that get a good copy of it back."""

    by_image: dict[Digest, list[str]]

    @classmethod
    def of(cls, store: ImageStore) -> _Names:
        try:
            refs = store.references()
        except HoodError:
            refs = {}  # _check_references reports it
        by_image: dict[Digest, list[str]] = {}
        for key, target in sorted(refs.items()):
            by_image.setdefault(target, []).append(key)
        return cls(by_image)

    def redo(self, image_id: Digest) -> str:
        """What to run to get a good copy of an image back."""
        refs = self.by_image.get(image_id, [])
        pulls = [r for r in refs if "@" not in r] or refs
        again = f", then hood pull {pulls[0]}" if pulls else ", then pull it again"
        return f"hood rmi -f {refs[0] if refs else image_id.short}{again}"


@dataclass(frozen=True)
class _ImageLayer:
    """A layer as an image's config says it must be."""

    chain: Digest
    diff_id: Digest
    parent: Digest | None


@dataclass
class _Images:
    """What the image configs (and the references naming them) told."""

    names: _Names
    used_chains: set[Digest] = field(default_factory=set)  # layers --repair keeps
    unknown: list[Digest] = field(default_factory=list)  # images whose layers cannot be told
    users: dict[Digest, list[Digest]] = field(default_factory=dict)  # chain ID -> images
    to_check: list[list[_ImageLayer]] = field(default_factory=list)  # layers of `only`'s images


def _check_images(store: ImageStore, only: list[Digest] | None, report: _Report) -> _Images:
    """Each image config: readable, hashing to its image ID, a valid config, not too deep."""
    image_ids = store.image_ids()
    out = _Images(_Names.of(store))
    redo = out.names.redo
    for image_id in image_ids:
        path = Path(store.layout.imagedb_content(image_id))
        try:
            raw = path.read_bytes()
        except OSError as exc:
            report.error(path, f"unreadable image config: {exc}", redo(image_id))
            out.unknown.append(image_id)
            continue
        try:
            config: ImageConfig | None = ImageConfig.parse(raw, what=f"image config {path}")
        except HoodError:
            config = None
        if config is not None:
            # Even a config that fails its hash below keeps its layers from --repair.
            out.used_chains.update(chain_ids(list(config.diff_ids)))
        else:
            out.unknown.append(image_id)
        if Digest.of_bytes(raw) != image_id:
            report.error(
                path,
                f"image config does not hash to its image ID {image_id.short} "
                "(changed or truncated)",
                redo(image_id),
            )
            continue
        if config is None:
            report.error(path, "image config is not a valid image config JSON", redo(image_id))
            continue
        chains = chain_ids(list(config.diff_ids))
        checked = only is None or image_id in only
        if len(chains) > MAX_DEPTH and checked:
            report.error(
                path,
                f"image {image_id.short} has {len(chains)} layers, more than the {MAX_DEPTH} "
                "an image may have (max depth exceeded): it cannot be mounted or run",
                redo(image_id).split(", then")[0],
            )
        for chain in chains:
            out.users.setdefault(chain, []).append(image_id)
        if checked:
            out.to_check.append(
                [
                    _ImageLayer(chain, config.diff_ids[i], chains[i - 1] if i else None)
                    for i, chain in enumerate(chains)
                ]
            )
    return out


def _check_image_layers(
    store: ImageStore, images: _Images, verify_content: bool, report: _Report
) -> None:
    """Each layer of the images checked, once (images share layers); the fix names every
    image that uses it."""
    checked: set[Digest] = set()
    for layers in images.to_check:
        for layer in layers:
            if layer.chain in checked:
                continue
            checked.add(layer.chain)
            users = images.users.get(layer.chain, [])
            fix = "; ".join(images.names.redo(u) for u in users) or "pull the image again"
            _check_layer(store, layer, verify_content, report, fix)


# --- one layer ----------------------------------------------------------------------------


def _check_layer(
    store: ImageStore, layer: _ImageLayer, verify_content: bool, report: _Report, fix: str
) -> None:
    """Its layerdb entry, its overlay2 directory and short link, then its files against
    the tar-split metadata (and with `verify_content`, the tar they rebuild)."""
    record = _check_layerdb_entry(store, layer, report, fix)
    if record is None or not _check_layer_dir(store.layout, layer.chain, record, report, fix):
        return
    _check_layer_files(store, layer, record, verify_content, report, fix)


def _check_layerdb_entry(
    store: ImageStore, layer: _ImageLayer, report: _Report, fix: str
) -> LayerRecord | None:
    """The entry, if there is one to go on; its diff ID and parent as the image says."""
    chain = layer.chain
    meta = Path(store.layout.layerdb(chain))
    try:
        record = store.layers.get(chain)
    except HoodError as exc:
        report.error(meta, str(exc), fix)
        return None
    if record is None:
        report.error(meta, f"layer {chain.short} is missing from layerdb", fix)
        return None
    if record.diff_id != layer.diff_id:
        report.error(
            meta / "diff",
            f"layer {chain.short} records diff ID {record.diff_id}, the image says {layer.diff_id}",
            fix,
        )
    # The chain ID itself is computed by the caller from these very diff IDs; a
    # layerdb entry that lies about them is caught by the diff and parent checks.
    if record.parent != layer.parent:
        report.error(
            meta / "parent",
            f"parent is {record.parent}, the chain says {layer.parent}",
            fix,
        )
    return record


def _check_layer_dir(
    layout: Layout, chain: Digest, record: LayerRecord, report: _Report, fix: str
) -> bool:
    """The overlay2 directory and its short link; False if there are no files to check."""
    layer_dir = Path(layout.layer_dir(record.cache_id))
    if not Path(record.diff_dir).is_dir():
        report.error(layer_dir, f"layer {chain.short}: overlay2 directory is missing", fix)
        return False
    link = layout.short_link(record.link_id) if record.link_id else None
    if link is None or os.path.realpath(link) != os.path.realpath(record.diff_dir):
        report.error(
            layer_dir / "link",
            f"layer {chain.short}: short link l/{record.link_id or '?'} does not lead to its diff dir",
            "fsck --repair recreates it",
            lambda: _relink(layout, record.cache_id, record.link_id),
        )
    return True


def _check_layer_files(
    store: ImageStore,
    layer: _ImageLayer,
    record: LayerRecord,
    verify_content: bool,
    report: _Report,
    fix: str,
) -> None:
    """The files against the tar-split metadata; with `verify_content`, the tar they
    rebuild hashed against the diff ID."""
    from hood.services.validate import check_layer

    chain = layer.chain
    tar_split = Path(store.layout.layerdb(chain)) / TAR_SPLIT
    if not tar_split.exists():
        report.error(
            tar_split,
            f"layer {chain.short}: no tar-split metadata, its diff ID cannot be checked",
            fix,
        )
        return
    diff_dir = Path(record.diff_dir)
    changed = f"the layer's files were changed after the pull: {fix}"
    found = check_layer(store, chain, rebuild=verify_content)
    for diff in found.differences:
        where = diff_dir / diff.path if diff.path else diff_dir
        what = f"{diff.path}: {diff.what}" if diff.path else diff.what
        report.error(where, f"layer {chain.short}: {what}", changed)
    if not verify_content:
        return
    if found.rebuilt is None:
        report.error(
            record.diff_dir,
            f"layer {chain.short}: its files do not rebuild the layer tar: {found.error}",
            changed,
        )
        return
    if found.rebuilt != layer.diff_id:
        report.error(
            record.diff_dir,
            f"layer {chain.short}: files rebuild to {found.rebuilt}, not its diff ID {layer.diff_id}",
            changed,
        )


def _relink(layout: Layout, cache_id: str, link_id: str) -> None:
    from hood.store.layers import new_link_id

    os.makedirs(layout.short_links, exist_ok=True)
    if not link_id:
        link_id = new_link_id()
        write_atomic(os.path.join(layout.layer_dir(cache_id), "link"), link_id)
    link = layout.short_link(link_id)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    os.symlink(f"../{cache_id}/diff", link)


# --- references and manifests ----------------------------------------------------------


def _check_references(store: ImageStore, report: _Report) -> None:
    """repositories.json readable, and each tag or digest naming an image the store has."""
    layout = store.layout
    try:
        refs = store.references()
    except HoodError as exc:
        report.error(
            layout.repositories_json, str(exc), "restore it from a backup, or delete it and re-tag"
        )
        return
    for key, target in refs.items():
        if not store.has_image(target):
            report.error(
                layout.repositories_json,
                f"{key} points to {target.short}, which is not in imagedb (dangling tag)",
                f"hood rmi {key}, or fsck --repair",
                lambda key=key: store.remove_reference(key),
            )


def _check_manifests(layout: Layout, report: _Report) -> None:
    """Each manifest kept as pulled hashes to the digest it is named by."""
    manifests = Path(layout.hood_dir) / "manifests" / "sha256"
    if not manifests.is_dir():
        return
    for entry in manifests.iterdir():
        if entry.name.startswith("."):
            continue
        try:
            expected = Digest.parse("sha256:" + entry.name)
        except InvalidDigest:
            report.leftover(
                entry, "not a manifest file", "remove it", lambda p=entry: remove_tree(p)
            )
            continue
        if Digest.of_bytes(entry.read_bytes()) != expected:
            report.error(
                entry,
                f"manifest does not hash to {expected.short}",
                "pull the image again",
                lambda p=entry: p.unlink(),
            )


# --- what to do with the findings ------------------------------------------------------


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
