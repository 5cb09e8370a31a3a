"""hood login / logout against real registries: the token flow and htpasswd basic auth."""

import json

from support.registry import PASSWORD, USER


def _config(hood) -> dict:
    path = hood.home / ".docker" / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_login_token_registry_then_pull_private(hood, token_registry, token_images):
    env = token_registry.env
    private = token_images["private"].ref
    hood.run("pull", private, env=env).failed()
    r = hood.run(
        "login", "-u", USER, "--password-stdin", token_registry.host, env=env, input=PASSWORD + "\n"
    ).ok()
    assert "Login Succeeded" in r.stdout
    entry = _config(hood)["auths"][token_registry.host]
    assert "auth" in entry
    hood.run("pull", private, env=env).ok()
    r = hood.run("logout", token_registry.host, env=env).ok()
    assert f"Removing login credentials for {token_registry.host}" in r.stdout
    assert token_registry.host not in _config(hood).get("auths", {})
    assert "Not logged in" in hood.run("logout", token_registry.host, env=env).ok().stdout


def test_login_wrong_password_writes_nothing(hood, token_registry, basic_registry):
    for reg in (token_registry, basic_registry):
        r = hood.run(
            "login", "-u", USER, "--password-stdin", reg.host, env=reg.env, input="wrong\n"
        ).failed()
        assert reg.host in r.error
        assert reg.host not in _config(hood).get("auths", {})


def test_login_basic_registry(hood, basic_registry, basic_images):
    env = basic_registry.env
    hood.run("pull", basic_images["busybox"].ref, env=env).failed()
    hood.run("login", "-u", USER, "-p", PASSWORD, basic_registry.host, env=env).ok()
    hood.run("pull", basic_images["busybox"].ref, env=env).ok()


def test_login_needs_a_username_without_a_terminal(hood, basic_registry):
    r = hood.run("login", basic_registry.host, env=basic_registry.env, input="").failed()
    assert "username" in r.error
