"""Token (TLS, Docker Hub flow) and basic-auth registries; credentials from DOCKER_CONFIG."""

from __future__ import annotations

import re
import shutil

from support.checks import assert_store_empty, assert_stored
from support.registry import PASSWORD, USER


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


def _registry_only_certs_d(reg, tmp_path):
    """A certs.d with the CA for the registry alone: none for its token service, which
    listens on another port (docker trusts the registry's TLS configuration for it)."""
    certs_d = tmp_path / "certs.d"
    (certs_d / reg.host).mkdir(parents=True)
    shutil.copy(reg.ca_cert, certs_d / reg.host / "ca.crt")
    ts = reg.token_server
    assert ts.host != reg.host and not (certs_d / ts.host).exists()
    return {**reg.env, "HOOD_CERTS_D": str(certs_d)}


def test_token_service_on_another_port_trusted_through_the_registrys_ca(
    hood, token_images, tmp_path
):
    p = token_images["public"]
    env = _registry_only_certs_d(p.registry, tmp_path)
    n = len(p.registry.token_server.requests)
    hood.run("pull", p.ref, env=env).ok()
    assert_stored(hood, p.image)
    assert len(p.registry.token_server.requests) > n


def test_login_with_token_service_on_another_port(hood, token_registry, token_images, tmp_path):
    env = _registry_only_certs_d(token_registry, tmp_path)
    hood.run(
        "login", "-u", USER, "--password-stdin", token_registry.host, env=env, input=PASSWORD + "\n"
    ).ok()
    hood.run("pull", token_images["private"].ref, env=env).ok()
