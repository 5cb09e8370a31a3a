"""hood push to real docker-registry instances (plain, TLS + token, htpasswd basic), read
back by hood and by dockerd; the registry's access log shows what was sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import urllib.parse

import pytest
from support import dockerd as dockerd_mod
from support import registry as registries
from support.checks import repositories
from support.hood import Hood
from support.proxy import Proxy

ANON_KEY = b"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def _start(starter):
    try:
        return starter()
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        pytest.skip(f"cannot start a docker-registry: {exc}")


@pytest.fixture(scope="module")
def regs():
    """Registries of this module's own, logging every request."""
    out = {
        "plain": _start(lambda: registries.start_plain(access_log=True)),
        "token": _start(lambda: registries.start_token(access_log=True)),
        "basic": _start(lambda: registries.start_basic(access_log=True)),
    }
    yield out
    for reg in out.values():
        reg.stop()


@pytest.fixture(scope="module")
def store(plain_images, tmp_path_factory) -> Hood:
    """A hood store with busybox and the layers fixture, pulled from the session registry."""
    hood = Hood(tmp_path_factory.mktemp("push") / "root")
    for name in ("busybox", "layers"):
        p = plain_images[name]
        hood.run("pull", "-q", p.ref, env=p.registry.env).ok()
    return hood


@pytest.fixture(scope="module")
def pushd(regs):
    """A dockerd of this module's own that trusts its registries (and logs in to them)."""
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    try:
        d = dockerd_mod.start([r.host for r in regs.values()])
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        pytest.skip(f"cannot start dockerd: {exc}")
    client = d.workdir / "client"
    auths = {}
    for reg in (regs["token"], regs["basic"]):
        reg.docker_config(client)
        auths.update(json.loads((client / "config.json").read_text())["auths"])
    (client / "config.json").write_text(json.dumps({"auths": auths}))
    yield d
    d.stop()


def _env(reg, hood: Hood, tmp_path, creds: bool = True) -> dict[str, str]:
    env = dict(reg.env)
    if creds and reg.creds:
        env["DOCKER_CONFIG"] = str(reg.docker_config(tmp_path / f"cfg-{reg.kind}"))
    return env


def _image_id(hood: Hood, ref: str) -> str:
    return json.loads(hood.run("inspect", ref).ok().stdout)[0]["Id"]


def _tag(store: Hood, image: str, target: str) -> None:
    store.run("tag", image, target).ok()


def _uploads(requests) -> list[str]:
    """Digests of the blobs whose upload was completed (PUT …?digest=)."""
    out = []
    for method, path, status in requests:
        if method == "PUT" and "/blobs/uploads/" in path and status == 201:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            out.append(query["digest"][0])
    return out


def _v2metadata(hood: Hood, diff_id: str) -> list[dict]:
    path = hood.root / "image/overlay2/distribution/v2metadata-by-diffid/sha256" / diff_id[7:]
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------- plain


def test_push_plain_prints_docker_lines_and_docker_pulls_same_id(
    store, regs, pushd, plain_images, tmp_path
):
    reg = regs["plain"]
    image = plain_images["busybox"].image
    target = reg.ref("team/app:v1")
    _tag(store, plain_images["busybox"].ref, target)
    mark = reg.log_mark()
    r = store.run("push", target, env=reg.env).ok()
    lines = r.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{reg.host}/team/app]"
    shorts = [d[7:19] for d in reversed(image.diff_ids)]  # top layer first
    assert lines[1 : 1 + len(shorts)] == [f"{s}: Preparing" for s in shorts]
    assert sorted(lines[1 + len(shorts) : -1]) == sorted(f"{s}: Pushed" for s in shorts)
    m = re.fullmatch(r"v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", lines[-1])
    assert m, lines[-1]
    digest, size = m.group(1), int(m.group(2))
    # The manifest went last, by tag; every layer blob went up once.
    sent = reg.requests(mark)
    assert sent[-1][:2] == ("PUT", "/v2/team/app/manifests/v1")
    assert len(_uploads(sent)) == len(set(_uploads(sent))) == len(image.layers) + 1
    # docker schema 2, 3-space indent, as dockerd writes it
    raw = _registry_manifest(reg, "team/app", "v1")
    assert hashlib.sha256(raw).hexdigest() == digest[7:] and len(raw) == size
    doc = json.loads(raw)
    assert doc["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert raw.startswith(b'{\n   "schemaVersion": 2,\n   "mediaType"')
    # dockerd pulls it to the same image ID
    pushd.docker("pull", target)
    docker_id = json.loads(pushd.docker("image", "inspect", target).stdout)[0]["Id"]
    assert docker_id == image.id
    # hood in another store, too
    fresh = Hood(tmp_path / "fresh")
    fresh.run("pull", "-q", target, env=reg.env).ok()
    assert _image_id(fresh, target) == image.id
    # what dockerd would have recorded: RepoDigest, v2metadata with the HMAC, diffid-by-digest
    repos = repositories(store.root)
    assert repos[f"{reg.host}/team/app"][f"{reg.host}/team/app@{digest}"] == image.id
    repo = f"{reg.host}/team/app"
    for layer, diff_id in zip(doc["layers"], image.diff_ids, strict=True):
        entries = _v2metadata(store, diff_id)
        mine = [e for e in entries if e["SourceRepository"] == repo]
        assert mine and mine[-1]["Digest"] == layer["digest"]
        want = hmac.new(ANON_KEY, (layer["digest"] + repo).encode(), hashlib.sha256).hexdigest()
        assert mine[-1]["HMAC"] == want
        by_digest = store.root / "image/overlay2/distribution/diffid-by-digest/sha256"
        assert (by_digest / layer["digest"][7:]).read_text() == diff_id


def test_push_again_heads_and_skips(store, regs, plain_images):
    reg = regs["plain"]
    target = reg.ref("team/app:v1")
    _tag(store, plain_images["busybox"].ref, target)
    store.run("push", target, env=reg.env).ok()
    mark = reg.log_mark()
    r = store.run("push", target, env=reg.env).ok()
    assert r.stdout.count("Layer already exists") == 2, r.stdout
    sent = reg.requests(mark)
    assert not [s for s in sent if s[0] in ("POST", "PATCH")], sent
    heads = [s for s in sent if s[0] == "HEAD" and s[2] == 200]
    assert len(heads) >= 2


def test_push_other_repository_mounts(store, regs, plain_images):
    reg = regs["plain"]
    first, second = reg.ref("team/app:v1"), reg.ref("other/app:v1")
    _tag(store, plain_images["busybox"].ref, first)
    _tag(store, plain_images["busybox"].ref, second)
    store.run("push", first, env=reg.env).ok()
    mark = reg.log_mark()
    r = store.run("push", second, env=reg.env).ok()
    assert r.stdout.count("Mounted from team/app") == 2, r.stdout
    sent = reg.requests(mark)
    mounts = [s for s in sent if s[0] == "POST" and "mount=" in s[1]]
    assert len(mounts) == 2 and all(s[2] == 201 for s in mounts), sent
    assert all("from=team%2Fapp" in s[1] for s in mounts)
    assert all(s[1].index("from=") < s[1].index("mount=") for s in mounts)
    assert set(_uploads(sent)) <= {plain_images["busybox"].image.id}, "no layer went up again"


def test_push_all_tags_and_quiet(store, regs, plain_images):
    reg = regs["plain"]
    for tag in ("a", "b"):
        _tag(store, plain_images["layers"].ref, reg.ref(f"tags/layers:{tag}"))
    r = store.run("push", "-a", reg.ref("tags/layers"), env=reg.env).ok()
    assert re.search(r"^a: digest: sha256:[0-9a-f]{64} size: \d+$", r.stdout, re.M)
    assert re.search(r"^b: digest: sha256:[0-9a-f]{64} size: \d+$", r.stdout, re.M)
    q = store.run("push", "-q", reg.ref("tags/layers:a"), env=reg.env).ok()
    assert q.stdout == reg.ref("tags/layers:a") + "\n"


def test_push_zstd_makes_an_oci_manifest(store, regs, plain_images, tmp_path):
    reg = regs["plain"]
    target = reg.ref("zstd/app:1")
    _tag(store, plain_images["busybox"].ref, target)
    r = store.run("push", "--compression", "zstd", "--json", target, env=reg.env).ok()
    report = json.loads(r.stdout)[0]["images"][0]
    assert report["manifest"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {layer["written"]["mediaType"] for layer in report["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    assert all(not layer["kept"] and "zstd" in layer["why"] for layer in report["layers"])
    assert report["config"]["kept"] and report["id"] == plain_images["busybox"].image.id
    fresh = Hood(tmp_path / "fresh")
    fresh.run("pull", "-q", target, env=reg.env).ok()
    assert _image_id(fresh, target) == plain_images["busybox"].image.id


def test_push_unknown_tag_is_one_line(store, regs):
    reg = regs["plain"]
    r = store.run("push", reg.ref("nothing/here:v9"), env=reg.env).failed()
    assert "tag does not exist" in r.error and "nothing/here:v9" in r.error


# ------------------------------------------------------------------------------- auth


@pytest.mark.parametrize("kind", ["token", "basic"])
def test_push_with_credentials_then_docker_pulls(kind, store, regs, pushd, plain_images, tmp_path):
    reg = regs[kind]
    image = plain_images["layers"].image
    target = reg.ref("public/layers:1")
    _tag(store, plain_images["layers"].ref, target)
    n = len(reg.token_server.requests) if reg.token_server else 0
    store.run("push", target, env=_env(reg, store, tmp_path)).ok()
    if reg.token_server is not None:
        scopes = [s for req in reg.token_server.requests[n:] for s in req["scopes"]]
        assert "repository:public/layers:pull,push" in scopes, scopes
    pushd.docker("pull", target)
    docker_id = json.loads(pushd.docker("image", "inspect", target).stdout)[0]["Id"]
    assert docker_id == image.id


@pytest.mark.parametrize("kind", ["token", "basic"])
def test_push_without_credentials_is_one_clear_line(kind, store, regs, plain_images, tmp_path):
    reg = regs[kind]
    target = reg.ref("private/denied:1")
    _tag(store, plain_images["busybox"].ref, target)
    r = store.run("push", target, env=_env(reg, store, tmp_path, creds=False)).failed()
    assert reg.host in r.error and "private/denied" in r.error, r.error
    assert re.search(r"denied|unauthori[sz]ed|login", r.error, re.I), r.error


# ------------------------------------------------------------------------------- resume


@pytest.mark.parametrize("forward_half", [False, True], ids=["cut-before-registry", "cut-mid-body"])
@pytest.mark.parametrize("how", ["push", "copy"])
def test_upload_broken_off_halfway_resumes(how, forward_half, store, regs, plain_images, tmp_path):
    """The 3rd PATCH (of 256 KiB pieces) breaks off half-way. If the registry got none of
    it, hood asks where the upload stands (GET: 204, Range), produces the same bytes again
    (the layer compressed again for a push, the source blob read again for a copy) and
    sends only what the registry lacks; if the registry got half (distribution 2.8 then
    drops the session), the upload starts over. Either way it completes and reads back
    the same."""
    reg = regs["plain"]
    p = plain_images["busybox"]
    with Proxy(reg.host, cut_patch=3, forward_half=forward_half) as proxy:
        target = f"{proxy.host}/resume/{how}{int(forward_half)}:1"
        env = {
            "HOOD_INSECURE_REGISTRIES": f"{proxy.host},{p.registry.host}",
            "HOOD_UPLOAD_PIECE": str(256 << 10),
            "HOOD_MAX_CONCURRENT_UPLOADS": "1",  # layer 0 first: its 3rd PATCH is cut
        }
        if how == "push":
            _tag(store, p.ref, target)
            store.run("push", target, env=env).ok()
        else:
            store.run("copy", f"docker://{p.ref}", f"docker://{target}", env=env).ok()
        log = list(proxy.log)
        fresh = Hood(tmp_path / "fresh")
        fresh.run("pull", "-q", target, env=env).ok()
    assert _image_id(fresh, target) == p.image.id
    cut = [i for i, e in enumerate(log) if e.status == 0]
    assert len(cut) == 1, [(e.method, e.status, e.length, e.range) for e in log]
    session = log[cut[0]].route
    before = [e for e in log[: cut[0]] if e.route == session and e.method == "PATCH"]
    acked = before[-1].holds  # what the registry held before the cut
    assert acked == 2 * (256 << 10)
    after = [e for e in log[cut[0] + 1 :] if e.route == session]
    if not forward_half:
        assert after[0].method == "GET" and after[0].status == 204 and after[0].holds == acked
        patches = [e for e in after if e.method == "PATCH"]
        # the same session goes on from where the registry stands: nothing is sent twice
        assert patches and patches[0].holds == acked + patches[0].length
        if how == "copy":
            assert patches[0].content_range.startswith(f"{acked}-")
        assert any(e.method == "PUT" and e.status == 201 for e in after)
        assert sum(e.length for e in patches) + acked == patches[-1].holds
    else:
        assert any(e.method == "GET" and e.status == 404 for e in after)
        assert [e for e in log[cut[0] + 1 :] if e.method == "POST"], "a new upload session"


def _registry_manifest(reg, repo: str, tag: str) -> bytes:
    import urllib.request

    req = urllib.request.Request(
        f"{reg.url}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()
