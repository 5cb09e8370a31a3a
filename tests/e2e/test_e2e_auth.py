"""Token (TLS, Docker Hub flow) and basic-auth registries; credentials from DOCKER_CONFIG."""

from __future__ import annotations

import re

from support.checks import assert_store_empty, assert_stored


def test_token_anonymous_pull_on_public(hood, token_images):
    p = token_images["public"]
    ts = p.registry.token_server
    n = len(ts.requests)
    hood.run("pull", p.ref, env=p.registry.env).ok()
    assert_stored(hood, p.image)
    asked = ts.requests[n:]
    assert asked and all(req["user"] is None for req in asked), asked
    assert any("repository:public/busybox:pull" in req["scopes"] for req in asked), asked


def test_token_private_denied_without_credentials(hood, token_images):
    p = token_images["private"]
    r = hood.run("pull", p.ref, env=p.registry.env).failed()
    assert re.search(r"denied|unauthori[sz]ed|authenticat|not found", r.error, re.I), r.error
    assert_store_empty(hood)


def test_token_private_with_docker_config_credentials(hood, token_images, tmp_path):
    p = token_images["private"]
    cfg = p.registry.docker_config(tmp_path / "dockercfg")
    ts = p.registry.token_server
    n = len(ts.requests)
    hood.run("pull", p.ref, env={**p.registry.env, "DOCKER_CONFIG": str(cfg)}).ok()
    assert_stored(hood, p.image)
    assert any(req["user"] == "alice" for req in ts.requests[n:])


def test_token_private_with_wrong_password(hood, token_images, tmp_path):
    p = token_images["private"]
    cfg = p.registry.docker_config(tmp_path / "dockercfg", password="wrong")
    hood.run("pull", p.ref, env={**p.registry.env, "DOCKER_CONFIG": str(cfg)}).failed()
    assert_store_empty(hood)


def test_token_by_digest(hood, token_images):
    p = token_images["public"]
    hood.run("pull", p.digest_ref, env=p.registry.env).ok()
    assert_stored(hood, p.image)


def test_basic_denied_without_credentials(hood, basic_images):
    p = basic_images["busybox"]
    hood.run("pull", p.ref, env=p.registry.env).failed()
    assert_store_empty(hood)


def test_basic_with_credentials(hood, basic_images, tmp_path):
    p = basic_images["busybox"]
    cfg = p.registry.docker_config(tmp_path / "dockercfg")
    hood.run("pull", p.ref, env={**p.registry.env, "DOCKER_CONFIG": str(cfg)}).ok()
    assert_stored(hood, p.image)
