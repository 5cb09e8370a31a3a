"""`rmi` as docker does it: untag, and delete the image with its unused layers when the
last reference goes. Returns docker's Untagged:/Deleted: lines."""

from __future__ import annotations

import contextlib

from hood import reference
from hood.errors import InvalidReference
from hood.store.images import Conflict, ImageStore


def remove_image(store: ImageStore, name: str, *, force: bool = False) -> list[str]:
    lines: list[str] = []
    with store.locked():
        image_id = store.resolve_id(name)
        refs = {k: v for k, v in store.references().items() if v == image_id}
        by_reference = None
        with contextlib.suppress(InvalidReference):
            parsed = reference.parse(name)
            if parsed.familiar() in refs:
                by_reference = parsed
        users = store.containers_using(image_id)
        if by_reference is not None:
            if users and not force:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force) '
                    f"- container {users[0][:12]} is using its referenced image {image_id.short}"
                )
            key = by_reference.familiar()
            store.remove_reference(key)
            lines.append(f"Untagged: {key}")
            refs.pop(key)
            repo = by_reference.familiar_name
            same_repo = [k for k in refs if _repo(k) == repo]
            if by_reference.tag and all("@" in k for k in same_repo):
                for k in same_repo:
                    store.remove_reference(k)
                    lines.append(f"Untagged: {k}")
                    refs.pop(k)
            if refs:
                return lines
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
            for k in sorted(refs):
                store.remove_reference(k)
                lines.append(f"Untagged: {k}")
        if users:
            return lines  # forced untag; the image stays while containers use it
        deleted = store.delete_image(image_id)
        lines.append(f"Deleted: {image_id}")
        lines.extend(f"Deleted: {chain}" for chain in deleted)
    return lines


def _repo(key: str) -> str:
    """The familiar repository name of a `name:tag` or `name@digest` key."""
    try:
        return reference.parse(key, default_tag=False).familiar_name
    except InvalidReference:
        return key
