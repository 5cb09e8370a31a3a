"""Against Debian's docker-registry: plain HTTP, TLS + token auth, htpasswd basic auth."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from regkit import sha256, write_helper

from hood.core.digest import Digest, VerifyingReader
from hood.core.errors import AuthError, DigestMismatch, NotFound
from hood.core.oci import DOCKER_MANIFEST
from hood.registry.client import RegistryClient
from hood.registry.credentials import Credentials

ALICE = Credentials("alice", "secret")


@pytest.fixture
def use_env(monkeypatch):
    def apply(reg):
        for k, v in reg.env.items():
            monkeypatch.setenv(k, v)
        return reg

    return apply


@pytest.fixture(scope="module")
def plain_busybox(plain_registry, built_images):
    from support import images

    return images.push(plain_registry, built_images["busybox"], "registrytests/busybox")


def read_blob(client, repo, digest, size, partial) -> bytes:
    out = io.BytesIO()
    with client.fetch_blob(repo, Digest.parse(digest), size, partial) as blob:
        reader = VerifyingReader(blob, Digest.parse(digest), size, what="blob")
        while chunk := reader.read(7000):
            out.write(chunk)
        reader.finish()
    return out.getvalue()


# --- plain -----------------------------------------------------------------------------------


def test_plain_manifest_by_tag_and_digest(plain_busybox, use_env, fast_retry):
    p = plain_busybox
    img = p.image
    with RegistryClient(p.registry.host, retry=fast_retry) as c:
        assert c.ping() == f"http://{p.registry.host}"
        by_tag = c.get_manifest(p.repo, "latest")
        assert by_tag.raw == img.manifest
        assert str(by_tag.digest) == img.manifest_digest
        assert by_tag.content_type == DOCKER_MANIFEST
        by_digest = c.get_manifest(p.repo, Digest.parse(img.manifest_digest))
        assert by_digest.raw == img.manifest
        by_text = c.get_manifest(p.repo, img.manifest_digest)
        assert by_text.digest == by_digest.digest
        head = c.head_manifest(p.repo, "latest")
        assert str(head.digest) == img.manifest_digest and head.size == len(img.manifest)


def test_plain_404s(plain_busybox, fast_retry):
    p = plain_busybox
    c = RegistryClient(p.registry.host, retry=fast_retry)
    with c, pytest.raises(NotFound, match=rf"manifest unknown: {p.registry.host}/{p.repo}:nope"):
        c.get_manifest(p.repo, "nope")
        with pytest.raises(NotFound, match="registrytests/nothing"):
            c.get_manifest("registrytests/nothing", "latest")
        missing = sha256(b"no such blob")
        with pytest.raises(NotFound, match=f"manifest unknown: .*{missing}.*MANIFEST_UNKNOWN"):
            c.get_manifest(p.repo, missing)
        with pytest.raises(NotFound, match=f"blob unknown: .*{missing}"):
            read_blob(c, p.repo, missing, 10, p.registry.workdir / "nope.partial")
        assert c.blob_exists(p.repo, Digest.parse(missing)) is False
        assert c.blob_exists(p.repo, Digest.parse(p.image.config_digest)) is True
        with pytest.raises(NotFound):
            c.head_manifest(p.repo, "nope")


def test_plain_blobs_streamed_and_verified(plain_busybox, tmp_path, fast_retry):
    p = plain_busybox
    with RegistryClient(p.registry.host, retry=fast_retry) as c:
        for layer in p.image.layers:
            partial = tmp_path / f"{layer.digest}.partial"
            assert read_blob(c, p.repo, layer.digest, layer.size, partial) == layer.blob
            assert partial.read_bytes() == layer.blob  # teed to the partial file
        cfg = p.image
        with c.fetch_blob_bytes(p.repo, Digest.parse(cfg.config_digest), len(cfg.config)) as data:
            assert data == cfg.config
        with (
            pytest.raises(DigestMismatch),
            c.fetch_blob_bytes(p.repo, Digest.parse(cfg.config_digest), len(cfg.config) - 1),
        ):
            pass


def test_plain_push_monolithic_chunked_and_mount(plain_busybox, fast_retry):
    p = plain_busybox
    blob = b"hood pushed this blob\n" * 5000
    other = b"and this one in chunks\n" * 3000
    d1, d2 = Digest.parse(sha256(blob)), Digest.parse(sha256(other))
    repo = "registrytests/pushed"
    with RegistryClient(p.registry.host, retry=fast_retry) as c:
        assert c.upload_blob(repo, d1, len(blob), io.BytesIO(blob)) == "uploaded"
        assert (
            c.upload_blob(repo, d2, len(other), io.BytesIO(other), chunk_size=10000) == "uploaded"
        )
        assert c.blob_exists(repo, d1) and c.blob_exists(repo, d2)
        assert (
            c.upload_blob("registrytests/mounted", d1, len(blob), io.BytesIO(b""), mount_from=repo)
            == "mounted"
        )
        assert c.blob_exists("registrytests/mounted", d1)
        with pytest.raises(DigestMismatch):
            c.upload_blob(repo, d1, len(blob) - 1, io.BytesIO(blob))
        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
        dc = Digest.parse(sha256(config))
        c.upload_blob(repo, dc, len(config), io.BytesIO(config))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "digest": str(dc),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "digest": str(d1),
                        "size": len(blob),
                    }
                ],
            }  # fmt: skip
        ).encode()
        md = c.put_manifest(repo, "v1", manifest, DOCKER_MANIFEST)
        assert str(md) == sha256(manifest)
        got = c.get_manifest(repo, "v1")
        assert got.raw == manifest and got.digest == md


# --- token auth ------------------------------------------------------------------------------


def test_token_anonymous_pull_public(token_images, use_env, fast_retry):
    p = token_images["public"]
    reg = use_env(p.registry)
    ts = reg.token_server
    n = len(ts.requests)
    with RegistryClient(reg.host, credentials=None, retry=fast_retry) as c:
        assert c.get_manifest(p.repo, "latest").raw == p.image.manifest
        c.get_manifest(p.repo, "latest")  # cached token: no new request
    asked = ts.requests[n:]
    assert asked == [{"user": None, "scopes": ["repository:public/busybox:pull"], "ok": True}]


def test_token_private_denied_without_credentials(token_images, use_env, fast_retry):
    p = token_images["private"]
    reg = use_env(p.registry)
    n = len(reg.token_server.requests)
    c = RegistryClient(reg.host, credentials=None, retry=fast_retry)
    with c, pytest.raises(AuthError) as err:
        c.get_manifest(p.repo, "latest")
    text = str(err.value)
    assert f"{reg.host}/private/busybox:latest" in text and "hood login" in text
    # insufficient_scope: a second anonymous token would grant no more; not asked for
    assert len(reg.token_server.requests[n:]) == 1


def test_token_per_scope_tokens_with_credentials(token_images, use_env, tmp_path, fast_retry):
    reg = use_env(token_images["private"].registry)
    ts = reg.token_server
    n = len(ts.requests)
    with RegistryClient(reg.host, credentials=ALICE, retry=fast_retry) as c:
        for _ in range(2):
            for which in ("private", "public"):
                p = token_images[which]
                assert c.get_manifest(p.repo, "latest").raw == p.image.manifest
        layer = token_images["private"].image.layers[0]
        read_blob(c, "private/busybox", layer.digest, layer.size, tmp_path / "l.partial")
        # a push scope is another token
        assert c.blob_exists("private/busybox", Digest.parse(layer.digest))
        c.upload_blob(
            "private/other", Digest.parse(layer.digest), layer.size, io.BytesIO(layer.blob)
        )
    asked = ts.requests[n:]
    assert [r["scopes"] for r in asked] == [
        ["repository:private/busybox:pull"],
        ["repository:public/busybox:pull"],
        ["repository:private/other:pull,push"],
    ]
    assert all(r["user"] == "alice" for r in asked)


def test_token_wrong_password(token_images, use_env, fast_retry):
    p = token_images["private"]
    reg = use_env(p.registry)
    c = RegistryClient(reg.host, credentials=Credentials("alice", "wrong"), retry=fast_retry)
    with c, pytest.raises(AuthError, match="login refused by the token service"):
        c.get_manifest(p.repo, "latest")


def test_token_credentials_from_docker_config(token_images, use_env, tmp_path, monkeypatch):
    p = token_images["private"]
    reg = use_env(p.registry)
    cfg = reg.docker_config(tmp_path / "cfg")
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    with RegistryClient(reg.host) as c:
        assert c.get_manifest(p.repo, "latest").raw == p.image.manifest


def test_token_credentials_from_cred_helper(token_images, use_env, tmp_path, monkeypatch):
    p = token_images["private"]
    reg = use_env(p.registry)
    bindir = tmp_path / "bin"
    store = tmp_path / "store.json"
    store.write_text(json.dumps({reg.host: {"Username": "alice", "Secret": "secret"}}))
    write_helper(bindir, "hoodtest", store)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(
        json.dumps({"credHelpers": {reg.host: "hoodtest"}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    with RegistryClient(reg.host) as c:
        assert c.get_manifest(p.repo, "latest").raw == p.image.manifest
    assert (tmp_path / "store.json.log").read_text() == f"get {reg.host}\n"


def test_token_check_login(token_images, use_env):
    reg = use_env(token_images["private"].registry)
    with RegistryClient(reg.host, credentials=ALICE) as c:
        c.check_login()
    c = RegistryClient(reg.host, credentials=Credentials("alice", "nope"))
    with c, pytest.raises(AuthError, match="login refused"):
        c.check_login()
    c = RegistryClient(reg.host, credentials=None)
    with c, pytest.raises(AuthError, match="no credentials"):
        c.check_login()


def test_token_parallel_threads_share_one_token(token_images, use_env, tmp_path):
    p = token_images["private"]
    reg = use_env(p.registry)
    ts = reg.token_server
    n = len(ts.requests)
    errors: list[BaseException] = []
    layers = p.image.layers
    with RegistryClient(reg.host, credentials=ALICE) as c:

        def work(i: int) -> None:
            try:
                layer = layers[i % len(layers)]
                got = read_blob(c, p.repo, layer.digest, layer.size, tmp_path / f"{i}.partial")
                assert got == layer.blob
                assert c.get_manifest(p.repo, "latest").raw == p.image.manifest
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert len(ts.requests[n:]) == 1, ts.requests[n:]


# --- basic auth ------------------------------------------------------------------------------


def test_basic_auth(basic_images, use_env, fast_retry):
    p = basic_images["busybox"]
    reg = use_env(p.registry)
    c = RegistryClient(reg.host, credentials=None, retry=fast_retry)
    with c, pytest.raises(AuthError, match=f"{reg.host}/library/busybox"):
        c.get_manifest(p.repo, "latest")
    with RegistryClient(reg.host, credentials=ALICE, retry=fast_retry) as c:
        assert c.get_manifest(p.repo, "latest").raw == p.image.manifest
        c.check_login()
    c = RegistryClient(reg.host, credentials=Credentials("alice", "bad"), retry=fast_retry)
    with c, pytest.raises(AuthError):
        c.get_manifest(p.repo, "latest")
        with pytest.raises(AuthError, match="login to .* failed"):
            c.check_login()


def test_basic_auth_from_config_auth_field(basic_images, use_env, tmp_path, monkeypatch):
    p = basic_images["busybox"]
    reg = use_env(p.registry)
    (tmp_path / "cfg").mkdir()
    auth = base64.b64encode(b"alice:secret").decode()
    (tmp_path / "cfg" / "config.json").write_text(
        json.dumps({"auths": {f"http://{reg.host}": {"auth": auth}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    with RegistryClient(reg.host) as c:
        assert c.get_manifest(p.repo, "latest").raw == p.image.manifest
