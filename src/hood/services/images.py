"""Naming and removing images: `tag`, and `rmi` as docker does it (untag, and delete the
image with its unused layers when the last reference goes)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from hood.core import reference
from hood.core.digest import Digest, InvalidDigest
from hood.core.errors import Conflict, InvalidReference
from hood.store.containers import ContainerStore
from hood.store.images import ImageStore
from hood.store.rwlayers import RwLayers


def tag_image(store: ImageStore, source: str, target: str) -> Digest:
    """Point `target` (a `name[:tag]`) at the image `source` names; its image ID."""
    image_id = store.resolve_id(source)
    ref = reference.parse(target)
    if ref.digest is not None:
        raise InvalidReference(f"refusing to create a tag with a digest reference: {target}")
    with store.locked():
        store.add_reference(ref, image_id)
        store.set_last_tag_time(image_id)
    return image_id


@dataclass
class Removal:
    """What an rmi did, in docker's order: names untagged, then image and layers deleted."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[Digest] = field(default_factory=list)


def _containers_using(store: ImageStore, image_id: Digest) -> list[str]:
    return [c.id for c in ContainerStore(store.layout).using_image(str(image_id))]


def container_layers(store: ImageStore, exclude: set[str] | None = None) -> set[Digest]:
    """Chain IDs of every image layer a container's read-write layer sits on (but those
    of the containers in `exclude`)."""
    out: set[Digest] = set()
    rw = RwLayers(store.layout)
    for container_id in rw.container_ids():
        if exclude and container_id in exclude:
            continue
        parent = rw.parent(container_id)
        with contextlib.suppress(InvalidDigest):
            # every layer it can reach, even where a broken chain stops the walk early
            out.update(store.layers.ancestors(Digest.parse(parent, sha256_only=True)))
    return out


def remove_image(store: ImageStore, name: str, *, force: bool = False) -> Removal:
    """Untag `name`; when it was the image's last name (or `name` is its ID), delete the
    image and the layers nothing else uses. A container using it makes the last name
    need `force`; the image itself then stays while a container needs it."""
    from hood.services.container_lifecycle import sweep_abandoned

    done = Removal()
    sweep_abandoned(store.layout)  # a dead `--rm` run's container uses no image
    with store.locked():
        image_id = store.resolve_id(name)
        refs = {k: v for k, v in store.references().items() if v == image_id}
        by_reference = None
        with contextlib.suppress(InvalidReference):
            parsed = reference.parse(name)
            if parsed.familiar() in refs:
                by_reference = parsed
        users = _containers_using(store, image_id)
        if by_reference is not None:
            key = by_reference.familiar()
            if users and not force and _is_single_reference(list(refs)):
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force) '
                    f"- container {users[0][:12]} is using its referenced image {image_id.short}"
                )
            gone = [key]
            refs.pop(key)
            repo = by_reference.familiar_name
            same_repo = [k for k in refs if _repo(k) == repo]
            if by_reference.tag and all("@" in k for k in same_repo):
                gone += same_repo
                for k in same_repo:
                    refs.pop(k)
            store.update_references(remove=gone)
            done.untagged += gone
            if refs:
                return done
        else:
            repos = {_repo(k) for k in refs}
            if len(repos) > 1 and not force:
                raise Conflict(
                    f"conflict: unable to delete {image_id.short} (must be forced) - image is "
                    "referenced in multiple repositories"
                )
            if users and not force:
                raise Conflict(
                    f"conflict: unable to delete {image_id.short} (must be forced) - image is "
                    f"being used by stopped container {users[0][:12]}"
                )
            gone = sorted(refs)
            store.update_references(remove=gone)
            done.untagged += gone
        if users:
            return done  # forced untag; the image stays while containers use it
        deleted = store.delete_image(image_id, keep=container_layers(store))
        done.deleted = [image_id, *deleted]
    return done


def _is_single_reference(keys: list[str]) -> bool:
    """docker's rule for "the last name": at most one tag, and every name (digests too) in
    one repository. Untagging anything else leaves the image a name."""
    tags = [k for k in keys if "@" not in k]
    return len(tags) <= 1 and len({_repo(k) for k in keys}) == 1


def _repo(key: str) -> str:
    """The familiar repository name of a `name:tag` or `name@digest` key."""
    try:
        return reference.parse(key, default_tag=False).familiar_name
    except InvalidReference:
        return key


@dataclass
class PruneReport:
    """What a prune removed, in docker's order ("untagged: NAME", "deleted: ID" entries),
    and the bytes of image layers that went with it."""

    removed: list[tuple[str, str]] = field(default_factory=list)
    reclaimed: int = 0


IMAGE_PRUNE_FILTERS = ("dangling", "label", "label!", "until")


def prune_images(
    store: ImageStore, *, all: bool = False, filters: list[tuple[str, str]] | None = None  # noqa: A002
) -> PruneReport:
    """docker image prune: images without a tag (with `all`: images no container uses),
    by the daemon's rules: each name untagged, then the image and the layers nothing else
    uses deleted; an image a container uses stays. `filters`: label, label!, until."""
    from hood.core.errors import HoodError
    from hood.core.timefmt import parse_go_time
    from hood.services.filters import Filters

    selected = Filters(filters or ())
    selected.add("dangling", "false" if all else "true")
    selected.validate(IMAGE_PRUNE_FILTERS)
    dangling_only = selected.get_bool("dangling", True)
    until = selected.until()
    sizes = {chain: store.layers.get(chain) for chain in store.layers.all_chain_ids()}
    report = PruneReport()
    records = store.list()
    for record in records:
        created = parse_go_time(record.config.created)
        if until is not None and (created is None or created.timestamp() > until):
            continue
        config = record.config.config
        if isinstance(config, dict):
            labels = config.get("Labels") if isinstance(config.get("Labels"), dict) else None
            if not selected.match_kv_list("label", labels):
                continue
            if selected.contains("label!") and selected.match_kv_list("label!", labels):
                continue
        names = record.repo_tags + record.repo_digests
        if names:
            if dangling_only and record.repo_tags:
                continue
            targets = names
        else:
            targets = [str(record.id)]
        for name in targets:
            try:
                done = remove_image(store, name)
            except HoodError:  # in use by a container, or gone with an earlier name
                continue
            report.removed += [("untagged", key) for key in done.untagged]
            report.removed += [("deleted", str(d)) for d in done.deleted]
            for digest in done.deleted:
                layer = sizes.get(digest)
                if layer is not None:
                    report.reclaimed += layer.size
    return report
