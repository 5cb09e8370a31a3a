"""`hood fsck` on a real store: pulled from a real registry, then damaged by hand.

Each damage must make fsck exit non-zero and name where it is; a clean store passes;
`--repair` removes what nothing uses and keeps every layer an image still needs."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from support import checks, trees
from support.hood import Hood

LAYERS = "layers"  # three layers: files, whiteouts/opaque/hardlinks, an empty one


@pytest.fixture
def store(hood: Hood, plain_images) -> Hood:
    """A fresh store holding the multi-layer image and busybox."""
    for name in (LAYERS, "busybox"):
        p = plain_images[name]
        hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
    return hood


def layer_dirs(hood: Hood, plain_images, name: str = LAYERS) -> list[Path]:
    return trees.image_layer_dirs(hood.root, plain_images[name].image.id)


def a_file(diff: Path) -> Path | None:
    """A regular, non-empty, not hardlinked file of the layer (walk order is fixed)."""
    for dirpath, dirnames, filenames in sorted(os.walk(diff)):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_size and st.st_nlink == 1:
                return p
    return None


def fsck(hood: Hood, *args: str):
    r = hood.run("fsck", *args)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def assert_clean(hood: Hood) -> None:
    r = fsck(hood)
    assert r.status == 0, r.stdout + r.stderr
    assert "0 error(s)" in r.stdout, r.stdout


def test_clean_store_passes(store: Hood) -> None:
    r = fsck(store)
    assert r.status == 0, r.stdout
    assert "checked 2 image(s): 0 error(s), 0 leftover(s)" in r.stdout
    assert fsck(store, "--json").status == 0
    doc = json.loads(fsck(store, "--json").stdout)
    assert doc == {"ok": True, "findings": []}


def _one_byte(path: Path) -> str:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    st = os.lstat(path)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return "crc64"


def _delete(path: Path) -> str:
    path.unlink()
    return "missing"


def _add(path: Path) -> str:
    path.with_name("added-by-test").write_text("not in the layer\n")
    return "added-by-test"


def _rename(path: Path) -> str:
    path.rename(path.with_name(path.name + ".renamed"))
    return path.name + ".renamed"


def _chmod(path: Path) -> str:
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    os.chmod(path, mode ^ 0o070)
    return "mode"


def _chown(path: Path) -> str:
    st = os.lstat(path)
    os.chown(path, st.st_uid + 4321, st.st_gid + 4321)
    return "owner"


DAMAGE = {
    "one-byte": _one_byte,
    "delete": _delete,
    "add": _add,
    "rename": _rename,
    "chmod": _chmod,
    "chown": _chown,
}


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_layer_is_named(store: Hood, plain_images, layer: int, damage: str) -> None:
    if damage == "chown" and os.geteuid() != 0:
        pytest.skip("chown needs root")
    diff = layer_dirs(store, plain_images)[layer]
    target = a_file(diff)
    if target is None:
        if damage != "add":
            pytest.skip(f"layer {layer} has no file to damage (an empty layer)")
        target = diff / "placeholder"
    rel = str(target.relative_to(diff))
    mark = DAMAGE[damage](target)
    r = fsck(store)
    assert r.status == 1, f"{damage} in layer {layer} went unnoticed:\n{r.stdout}"
    errors = [ln for ln in r.stdout.splitlines() if ln.startswith("error: ")]
    assert errors, r.stdout
    assert all(str(diff) in ln for ln in errors), r.stdout  # only that layer's path
    named = rel if damage != "add" else str(Path(rel).with_name("added-by-test"))
    assert any(named in ln and mark in ln for ln in errors), r.stdout
    assert "  fix: " in r.stdout and "hood pull" in r.stdout, r.stdout
    if damage == "one-byte":
        # The files' metadata still agree: only the rebuilt tar finds it.
        assert any("do not rebuild" in ln for ln in errors), r.stdout
    # --repair does not hide a damaged layer, nor delete it.
    r2 = fsck(store, "--repair")
    assert r2.status == 1
    assert diff.is_dir()


def test_other_images_unaffected_by_a_damaged_layer(store: Hood, plain_images) -> None:
    _chmod(a_file(layer_dirs(store, plain_images)[0]))
    bb = plain_images["busybox"].image.id
    assert fsck(store, bb).status == 0
    assert fsck(store, plain_images[LAYERS].image.id).status == 1


def test_digests_shows_a_one_byte_change(store: Hood, plain_images) -> None:
    ref = plain_images[LAYERS].ref
    store.run("digests", ref).ok()
    _one_byte(a_file(layer_dirs(store, plain_images)[1]))
    r = store.run("digests", ref)
    assert r.status == 1, r.stdout
    assert "mismatch" in r.stdout and "do not match" in r.stdout
    doc = json.loads(store.run("digests", "--json", ref).stdout)
    assert doc["ok"] is False
    bad = [(c["name"], c["status"]) for c in doc["layers"][1]["checks"] if c["status"] != "ok"]
    assert ("diff ID", "mismatch") in bad
    assert all(
        c["status"] in ("ok", "not kept", "not a digest") for c in doc["layers"][0]["checks"]
    )


def _graph(hood: Hood) -> Path:
    return trees.graph_root(hood.root)


def test_truncated_config(store: Hood, plain_images) -> None:
    image = plain_images[LAYERS].image
    config = _graph(store) / "imagedb/content/sha256" / image.id.split(":")[1]
    config.write_bytes(config.read_bytes()[:40])
    r = fsck(store)
    assert r.status == 1
    assert f"error: {config}: image config does not hash to its image ID" in r.stdout
    # Its layers cannot be told any more: --repair keeps them all.
    before = checks.layerdb_names(store.root)
    fsck(store, "--repair")
    assert checks.layerdb_names(store.root) == before
    assert all(
        d.is_dir() for d in trees.image_layer_dirs(store.root, plain_images["busybox"].image.id)
    )


def test_changed_config(store: Hood, plain_images) -> None:
    image = plain_images[LAYERS].image
    config = _graph(store) / "imagedb/content/sha256" / image.id.split(":")[1]
    config.write_bytes(config.read_bytes().replace(b'"linux"', b'"Linux"'))
    r = fsck(store)
    assert r.status == 1 and str(config) in r.stdout
    fsck(store, "--repair")
    assert set(image.chain_ids) <= checks.layerdb_names(store.root)


def test_dangling_tag(store: Hood, plain_images) -> None:
    repos_path = _graph(store) / "repositories.json"
    doc = json.loads(repos_path.read_text())
    repo = f"{plain_images['busybox'].registry.host}/library/busybox"
    key = f"{repo}:latest"
    missing = "sha256:" + "0" * 64
    doc["Repositories"][repo][key] = missing
    repos_path.write_text(json.dumps(doc))
    r = fsck(store)
    assert r.status == 1
    assert f"error: {repos_path}: {key} points to 000000000000" in r.stdout
    assert "dangling tag" in r.stdout
    r = fsck(store, "--repair")
    assert "(repaired)" in r.stdout
    assert key not in json.loads(repos_path.read_text())["Repositories"].get(repo, {})
    # busybox is now untagged but still held by its digest reference: nothing else goes.
    assert_clean(store)


def test_removed_layerdb_dir(store: Hood, plain_images) -> None:
    chain = plain_images[LAYERS].image.chain_ids[1]
    meta = _graph(store) / "layerdb/sha256" / chain.split(":")[1]
    shutil.rmtree(meta)
    r = fsck(store)
    assert r.status == 1
    assert f"error: {meta}: layer {chain.split(':')[1][:12]} is missing from layerdb" in r.stdout


def test_removed_overlay_dir(store: Hood, plain_images) -> None:
    diff = layer_dirs(store, plain_images)[0]
    shutil.rmtree(diff.parent)
    r = fsck(store)
    assert r.status == 1
    assert f"error: {diff.parent}: " in r.stdout and "overlay2 directory is missing" in r.stdout


def test_changed_tar_split(store: Hood, plain_images) -> None:
    chain = plain_images[LAYERS].image.chain_ids[0]
    ts = _graph(store) / "layerdb/sha256" / chain.split(":")[1] / "tar-split.json.gz"
    ts.write_bytes(b"garbage")
    r = fsck(store)
    assert r.status == 1 and "tar headers" in r.stdout, r.stdout


def test_repair_removes_orphans_and_leftovers(store: Hood, plain_images) -> None:
    overlay = store.root / "overlay2"
    orphan = overlay / ("ab" * 32)
    (orphan / "diff" / "x").mkdir(parents=True)
    (orphan / "link").write_text("ORPHANLINKORPHANLINKORPHAN")
    tmp = store.root / "hood" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "leftover.tar-split").write_bytes(b"half")
    repos_tmp = _graph(store) / ".repositories.json.tmp-1234"
    repos_tmp.write_text("{}")
    dangling_link = overlay / "l" / "DANGLINGDANGLINGDANGLING12"
    os.symlink("../" + "cd" * 32 + "/diff", dangling_link)

    before_layers = checks.layerdb_names(store.root)
    before_dirs = {p for p in overlay.iterdir() if p != orphan}
    r = fsck(store)
    assert r.status == 0, r.stdout  # leftovers are not errors
    for p in (orphan, tmp / "leftover.tar-split", repos_tmp, dangling_link):
        assert f"leftover: {p}: " in r.stdout, r.stdout
    r = fsck(store, "--repair")
    assert r.status == 0, r.stdout
    assert not orphan.exists() and not repos_tmp.exists()
    assert not (tmp / "leftover.tar-split").exists()
    assert not os.path.lexists(dangling_link)
    assert checks.layerdb_names(store.root) == before_layers
    assert {p for p in overlay.iterdir()} == before_dirs
    after = fsck(store)
    assert "0 error(s), 0 leftover(s)" in after.stdout, after.stdout
    for name in (LAYERS, "busybox"):
        checks.assert_stored(store, plain_images[name].image)


def test_repair_keeps_shared_layers(hood: Hood, plain_images, tmp_path: Path) -> None:
    """busybox and zstd share their first layer; with busybox's config gone (an interrupted
    rmi), --repair removes busybox's own top layer and nothing zstd needs."""
    for name in ("busybox", "zstd", LAYERS):
        p = plain_images[name]
        hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
    busybox, zstd = plain_images["busybox"].image, plain_images["zstd"].image
    assert busybox.chain_ids[0] == zstd.chain_ids[0]
    (_graph(hood) / "imagedb/content/sha256" / busybox.id.split(":")[1]).unlink()
    repos_path = _graph(hood) / "repositories.json"
    doc = json.loads(repos_path.read_text())
    for entries in doc["Repositories"].values():
        for key in [k for k, v in entries.items() if v == busybox.id]:
            del entries[key]
    repos_path.write_text(json.dumps(doc))

    r = fsck(hood)
    assert r.status == 0, r.stdout
    top = busybox.chain_ids[1].split(":")[1]
    assert f"leftover: {_graph(hood) / 'layerdb/sha256' / top}: " in r.stdout
    fsck(hood, "--repair").ok()
    names = checks.layerdb_names(hood.root)
    assert busybox.chain_ids[1] not in names
    assert set(zstd.chain_ids) | set(plain_images[LAYERS].image.chain_ids) <= names
    assert_clean(hood)
    for name in ("zstd", LAYERS):
        image = plain_images[name].image
        checks.assert_stored(hood, image)
        out = tmp_path / name
        out.mkdir()
        hood.run("unpack", plain_images[name].ref, str(out)).ok()
        assert trees.walk(out) == trees.expected_tree(image)


def _layer_dir_with_link(overlay: Path, cache_id: str, link_id: str) -> Path:
    """An overlay2 dir as a pull or run makes it: diff/, link, and l/LINK -> ../ID/diff."""
    d = overlay / cache_id
    (d / "diff" / "x").mkdir(parents=True)
    (d / "link").write_text(link_id)
    (overlay / "l").mkdir(exist_ok=True)
    os.symlink(f"../{cache_id}/diff", overlay / "l" / link_id)
    return d


def test_one_repair_removes_an_orphan_with_its_short_link(store: Hood) -> None:
    """A pull killed after the short link exists, before its layerdb entry: the orphaned
    dir and its link go in the same --repair, and the next fsck finds nothing."""
    overlay = store.root / "overlay2"
    orphan = _layer_dir_with_link(overlay, "ef" * 32, "ORPHANORPHANORPHANORPHAN12")
    r = fsck(store)
    assert f"leftover: {orphan}: " in r.stdout, r.stdout
    assert f"leftover: {overlay / 'l' / 'ORPHANORPHANORPHANORPHAN12'}: " in r.stdout, r.stdout
    fsck(store, "--repair").ok()
    assert not orphan.exists()
    assert not os.path.lexists(overlay / "l" / "ORPHANORPHANORPHANORPHAN12")
    after = fsck(store)
    assert "0 error(s), 0 leftover(s)" in after.stdout, after.stdout


def test_one_repair_removes_a_half_removed_layer(store: Hood, plain_images) -> None:
    """An rmi killed between renaming a layerdb entry away and unlinking its short link."""
    image = plain_images["busybox"].image
    top = image.chain_ids[-1].split(":")[1]
    layerdb = _graph(store) / "layerdb/sha256"
    (layerdb / top).rename(layerdb / f".{top}.removing-1234abcd")
    r = fsck(store)
    assert r.status == 1  # busybox lost a layer: an error, named
    fsck(store, "--repair")
    store.run("rmi", "-f", plain_images["busybox"].ref).ok()
    after = fsck(store)
    assert "0 error(s), 0 leftover(s)" in after.stdout, after.stdout


def test_container_leftovers_are_reported_and_repaired(store: Hood) -> None:
    """What killed runs leave and nothing else sees: a read-write layer with no container,
    a container dir without config.v2.json, hood's record without docker's."""
    graph = _graph(store)
    overlay = store.root / "overlay2"
    no_record, half, hood_only = "1" * 64, "2" * 64, "3" * 64
    mounts = graph / "layerdb/mounts"
    for cid, mount_id, link in ((no_record, "a1" * 32, "RWLAYERRWLAYERRWLAYERRW001"),
                                (half, "a2" * 32, "RWLAYERRWLAYERRWLAYERRW002")):  # fmt: skip
        (mounts / cid).mkdir(parents=True)
        (mounts / cid / "mount-id").write_text(mount_id)
        _layer_dir_with_link(overlay, mount_id, link)
    (store.root / "containers" / half).mkdir(parents=True)
    (store.root / "containers" / half / "hostname").write_text("x\n")
    (store.root / "hood/containers" / hood_only).mkdir(parents=True)
    (store.root / "hood/containers" / hood_only / "hood.json").write_text("{}")

    r = fsck(store)
    assert r.status == 0, r.stdout
    for path in (mounts / no_record, store.root / "containers" / half,
                 store.root / "hood/containers" / hood_only):  # fmt: skip
        assert f"leftover: {path}: " in r.stdout, r.stdout
    # each once (its layer with it), and the two short links that go with the layers
    assert "5 leftover(s)" in r.stdout, r.stdout
    fsck(store, "--repair").ok()
    assert not list(mounts.iterdir())
    assert not list((store.root / "containers").iterdir())
    assert not list((store.root / "hood/containers").iterdir())
    assert not (overlay / ("a1" * 32)).exists() and not (overlay / ("a2" * 32)).exists()
    after = fsck(store)
    assert "0 error(s), 0 leftover(s)" in after.stdout, after.stdout


def test_undecodable_layerdb_files_are_findings_not_crashes(store: Hood) -> None:
    """A mount-id or cache-id holding bytes that are not UTF-8 is reported like any other
    damage (a read-write layer of no container here), with no traceback, and repaired."""
    graph = _graph(store)
    cid = "4" * 64
    (graph / "layerdb/mounts" / cid).mkdir(parents=True)
    (graph / "layerdb/mounts" / cid / "mount-id").write_bytes(b"\xff\xfe" * 32)
    r = fsck(store)
    assert "Traceback" not in r.stderr, r.stderr
    assert f"leftover: {graph / 'layerdb/mounts' / cid}: " in r.stdout, r.stdout
    fsck(store, "--repair").ok()
    assert "0 error(s), 0 leftover(s)" in fsck(store).stdout
