"""The image a container is made from, read straight from the data root.

`hood run` needs three things of an image: its config's `config` object, its platform and
the short links of its layers. ImageStore answers all of that but pulls in the whole typed
model (oci, layers, locks) on import; this module reads the same files docker's layout keeps
with json and hashlib only, and still checks the config against the image ID. Names it cannot
settle cheaply (ID prefixes) go to ImageStore."""

from __future__ import annotations

import os

try:  # the sha256 module alone: hashlib would load OpenSSL first (~1.5 ms of `hood run`)
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other builds (3.12 names it _sha2)
    from hashlib import sha256

from hood.errors import NotFound, StoreError
from hood.runtime.lean import loads
from hood.store.layout import Layout, join

_HEX = frozenset("0123456789abcdef")

# containerd's platforms.Normalize for the names that occur in image configs.
_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "i686": "386"}


class RunImage:
    """An image as `run` sees it. `layers` are (chain_id, cache_id, link_id), lowest first."""

    __slots__ = ("id", "doc", "layers")

    def __init__(self, image_id: str, doc: dict, layers: list[tuple[str, str, str]]) -> None:
        self.id = image_id
        self.doc = doc
        self.layers = layers

    @property
    def config(self) -> dict:
        c = self.doc.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def platform(self) -> str:
        """os/arch[/variant], normalised."""
        return normalize_platform(
            "/".join(
                str(self.doc.get(k) or "")
                for k in ("os", "architecture", "variant")
                if self.doc.get(k)
            )
        )


def normalize_platform(text: str) -> str:
    parts = text.lower().split("/")
    os_name = parts[0] if parts else ""
    arch = _ARCH.get(parts[1], parts[1]) if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    if (arch, variant) in (("arm64", "8"), ("arm64", "v8"), ("amd64", "v1")):
        variant = ""
    elif arch == "arm":
        variant = {"": "v7", "7": "v7", "5": "v5", "6": "v6", "8": "v8"}.get(variant, variant)
    return "/".join(p for p in (os_name, arch, variant) if p)


def platform_matches(want: str, have: str) -> bool:
    """A requested os/arch[/variant] against an image's: a missing variant matches any."""
    w, h = normalize_platform(want).split("/"), normalize_platform(have).split("/")
    if w[:2] != h[:2]:
        return False
    return len(w) < 3 or w[2:] == h[2:]


def host_platform() -> str:
    machine = os.uname().machine.lower()
    arch = {"armv7l": "arm/v7", "armv6l": "arm/v6", "ppc64le": "ppc64le"}.get(machine)
    return "linux/" + (arch or _ARCH.get(machine, machine))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _simple_component(text: str) -> bool:
    """distribution/reference's path component, [a-z0-9]+ joined by `.`, `_`, `__` or `-`+."""
    if not text or text[0] not in _LOWER_ALNUM or text[-1] not in _LOWER_ALNUM:
        return False
    sep = ""
    for c in text:
        if c in _LOWER_ALNUM:
            if sep and sep not in (".", "_", "__") and sep.strip("-"):
                return False
            sep = ""
        elif c in "._-":
            sep += c
        else:
            return False
    return True


def _simple_reference(name: str) -> tuple[str, str] | None:
    """(familiar name, tag) of a Docker Hub reference in its plain forms (`busybox`,
    `user/app:1.2`, `library/x`), as hood.reference would make them; None for anything else
    (registries, digests, odd characters, errors), which hood.reference parses. Its import
    (re, dataclasses, hashlib) is most of what `hood run busybox` would spend importing."""
    if "@" in name:
        return None
    repo, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        repo, tag = name, "latest"
    elif not (0 < len(tag) <= 128 and _TAG_CHARS.issuperset(tag) and tag[0] not in ".-"):
        return None
    parts = repo.split("/")
    if not all(_simple_component(p) for p in parts):
        return None
    if len(parts) > 1 and ("." in parts[0] or parts[0] == "localhost"):
        return None  # a registry host
    path = repo if len(parts) > 1 else "library/" + repo
    if len("docker.io/" + path) > 255:
        return None
    if path.startswith("library/") and path.count("/") == 1:
        return path[8:], tag
    return path, tag


def _image_id(layout: Layout, name: str) -> str | None:
    """The full image ID (sha256:HEX) for a reference or full ID, None if not found so."""
    if name.startswith("sha256:") and len(name) == 71:
        return name
    if len(name) == 64 and _HEX.issuperset(name):
        return "sha256:" + name
    simple = _simple_reference(name)
    if simple is not None:
        repo, keys = simple[0], [f"{simple[0]}:{simple[1]}"]
    else:
        from hood import reference
        from hood.errors import InvalidReference

        try:
            ref = reference.parse(name)
        except InvalidReference:
            return None
        repo, keys = ref.familiar_name, [ref.familiar()]
        if ref.digest is not None and ref.tag is not None:
            keys.append(ref.with_digest(ref.digest).familiar())
    try:
        with open(layout.repositories_json, "rb") as f:
            repos = loads(f.read()).get("Repositories") or {}
    except FileNotFoundError:
        return None
    except (ValueError, AttributeError) as exc:
        raise StoreError(
            f"{layout.repositories_json} is corrupt ({exc}); run 'hood fsck'"
        ) from None
    entries = repos.get(repo) if isinstance(repos, dict) else None
    if not isinstance(entries, dict):
        return None
    for key in keys:
        found = entries.get(key)
        if isinstance(found, str):
            return found
    return None


def load_image(layout: Layout, name: str) -> RunImage:
    """The image `name` names (reference, full ID or ID prefix). Raises NotFound."""
    image_id = _image_id(layout, name)
    raw = None
    if image_id is not None:
        algo, _, hexpart = image_id.partition(":")
        if algo == "sha256" and len(hexpart) == 64 and _HEX.issuperset(hexpart):
            try:
                with open(join(layout.image_dir, "imagedb/content/sha256", hexpart), "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                raw = None
    if raw is None:
        from pathlib import Path

        from hood.store.images import ImageStore  # prefixes and the rarer forms

        image_id = str(ImageStore(Layout(Path(layout.root))).resolve_id(name))
        with open(join(layout.image_dir, "imagedb/content/sha256", image_id[7:]), "rb") as f:
            raw = f.read()
    if "sha256:" + sha256(raw).hexdigest() != image_id:
        raise StoreError(f"image {image_id}: its config does not match its ID; run 'hood fsck'")
    try:
        doc = loads(raw)
        diff_ids = [str(d) for d in doc["rootfs"]["diff_ids"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"image {image_id}: corrupt config ({exc})") from None
    layers = []
    chain = ""
    for diff_id in diff_ids:
        chain = (
            diff_id if not chain else "sha256:" + sha256(f"{chain} {diff_id}".encode()).hexdigest()
        )
        hexpart = chain.partition(":")[2]
        if len(hexpart) != 64 or not _HEX.issuperset(hexpart):
            raise StoreError(f"image {image_id}: bad diff_id {diff_id!r}")
        try:
            cache_id = _read(join(layout.image_dir, "layerdb/sha256", hexpart, "cache-id"))
        except FileNotFoundError:
            raise NotFound(
                f"image {image_id}: layer {chain} is missing from the store; pull it again"
            ) from None
        if len(cache_id) != 64 or not _HEX.issuperset(cache_id):
            raise StoreError(f"layer {chain}: corrupt cache-id")
        try:
            link = _read(join(layout.layer_dir(cache_id), "link"))
        except FileNotFoundError:
            link = ""
        if not link or "/" in link or link in (".", ".."):
            raise StoreError(f"layer {chain}: no short link in overlay2/{cache_id}/link")
        layers.append((chain, cache_id, link))
    return RunImage(image_id, doc, layers)
