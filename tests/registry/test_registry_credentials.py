"""docker config.json credentials: auths, credHelpers, credsStore; atomic save and remove."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from hood.core.errors import AuthError
from hood.registry import credentials as cr
from hood.registry.credentials import Credentials


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def cfgdir(tmp_path, monkeypatch):
    d = tmp_path / "dockercfg"
    d.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    return d


def write(cfgdir, doc) -> None:
    (cfgdir / "config.json").write_text(json.dumps(doc))


def test_config_path_from_home_then_docker_config(clean_env, tmp_path, monkeypatch):
    assert cr.config_path() == clean_env / ".docker" / "config.json"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "x"))
    assert cr.config_path() == tmp_path / "x" / "config.json"


def test_home_config_is_read(clean_env):
    (clean_env / ".docker").mkdir()
    (clean_env / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"reg.example:5000": {"auth": b64("bob:pw")}}})
    )
    assert cr.lookup("reg.example:5000") == Credentials("bob", "pw")


def test_auth_field_username_password_and_identitytoken(cfgdir):
    write(
        cfgdir,
        {
            "auths": {
                "a.example": {"auth": b64("alice:pa:ss")},  # password may hold ':'
                "b.example": {"username": "bob", "password": "pw"},
                "c.example": {"identitytoken": "refresh-me"},
                "d.example": {},
            }
        },
    )
    assert cr.lookup("a.example") == Credentials("alice", "pa:ss")
    assert cr.lookup("b.example") == Credentials("bob", "pw")
    assert cr.lookup("c.example") == Credentials(identity_token="refresh-me")
    assert cr.lookup("d.example") is None
    assert cr.lookup("e.example") is None


def test_no_config_file_means_no_credentials(cfgdir):
    assert cr.lookup("a.example") is None


def test_docker_hub_key_and_url_keys(cfgdir):
    write(
        cfgdir,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
                "https://reg.example:5000/v2/": {"auth": b64("r:pw")},
            }
        },
    )
    for host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        assert cr.lookup(host) == Credentials("hub", "pw"), host
    assert cr.lookup("reg.example:5000") == Credentials("r", "pw")
    assert cr.lookup("reg.example") is None  # the port is part of the name


def test_bad_auth_field_is_a_clear_error(cfgdir):
    write(cfgdir, {"auths": {"a.example": {"auth": b64("no-colon")}}})
    with pytest.raises(AuthError, match="a.example.*hood login"):
        cr.lookup("a.example")
    write(cfgdir, {"auths": {"a.example": {"auth": "%%%"}}})
    with pytest.raises(AuthError, match="a.example"):
        cr.lookup("a.example")


def test_garbage_config_is_a_clear_error(cfgdir):
    (cfgdir / "config.json").write_text("{not json")
    with pytest.raises(AuthError, match="config.json.*not valid JSON"):
        cr.lookup("a.example")


def test_cred_helper_for_one_host(cfgdir, helper_bin):
    store = helper_bin("fake", {"a.example": {"Username": "alice", "Secret": "s3"}})
    write(
        cfgdir,
        {"credHelpers": {"a.example": "fake"}, "auths": {"b.example": {"auth": b64("b:pw")}}},
    )
    assert cr.lookup("a.example") == Credentials("alice", "s3")
    assert cr.lookup("b.example") == Credentials("b", "pw")  # not through the helper
    assert (store.parent / (store.name + ".log")).read_text() == "get a.example\n"


def test_cred_helper_token_user_is_identity_token(cfgdir, helper_bin):
    helper_bin("fake", {"https://index.docker.io/v1/": {"Username": "<token>", "Secret": "tok"}})
    write(cfgdir, {"credsStore": "fake"})
    assert cr.lookup("registry-1.docker.io") == Credentials(identity_token="tok")


def test_creds_store_not_found_falls_back_to_auths(cfgdir, helper_bin):
    helper_bin("fake", {})
    write(cfgdir, {"credsStore": "fake", "auths": {"a.example": {"auth": b64("x:y")}}})
    assert cr.lookup("a.example") == Credentials("x", "y")
    assert cr.lookup("z.example") is None


def test_missing_helper_binary_is_named(cfgdir):
    write(cfgdir, {"credsStore": "nonexistent-helper-xyz"})
    with pytest.raises(AuthError, match="docker-credential-nonexistent-helper-xyz.*PATH"):
        cr.lookup("a.example")


def test_helper_name_cannot_be_a_path(cfgdir):
    write(cfgdir, {"credHelpers": {"a.example": "../../bin/sh"}})
    with pytest.raises(AuthError, match="invalid credential helper"):
        cr.lookup("a.example")


def test_save_writes_0600_atomically_and_keeps_other_keys(cfgdir):
    write(cfgdir, {"auths": {"other.example": {"auth": b64("o:p")}}, "psFormat": "table"})
    (cfgdir / "config.json").chmod(0o644)
    cr.save("a.example:5000", Credentials("alice", "secret"))
    path = cfgdir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "table"
    assert doc["auths"]["other.example"] == {"auth": b64("o:p")}
    assert doc["auths"]["a.example:5000"] == {"auth": b64("alice:secret")}
    assert sorted(p.name for p in cfgdir.iterdir()) == ["config.json"]  # no temp left behind
    assert cr.lookup("a.example:5000") == Credentials("alice", "secret")


def test_save_creates_the_directory_and_hub_key(clean_env):
    cr.save("docker.io", Credentials("hub", "pw"))
    doc = json.loads((clean_env / ".docker" / "config.json").read_text())
    assert list(doc["auths"]) == ["https://index.docker.io/v1/"]
    assert cr.lookup("registry-1.docker.io") == Credentials("hub", "pw")


def test_remove(cfgdir):
    write(cfgdir, {"auths": {"a.example": {"auth": b64("a:b")}, "b.example": {"auth": b64("c:d")}}})
    assert cr.remove("a.example") is True
    assert cr.lookup("a.example") is None
    assert cr.lookup("b.example") == Credentials("c", "d")
    assert cr.remove("a.example") is False


def test_save_and_remove_through_creds_store(cfgdir, helper_bin):
    store = helper_bin("fake", {})
    write(cfgdir, {"credsStore": "fake"})
    where = cr.save("a.example", Credentials("alice", "s3cret"))
    assert "docker-credential-fake" in where
    assert json.loads(store.read_text()) == {"a.example": {"Username": "alice", "Secret": "s3cret"}}
    doc = json.loads((cfgdir / "config.json").read_text())
    assert doc["auths"] == {"a.example": {}}  # recorded, secret not in the file
    assert "s3cret" not in (cfgdir / "config.json").read_text()
    assert cr.lookup("a.example") == Credentials("alice", "s3cret")
    assert cr.remove("a.example") is True
    assert json.loads(store.read_text()) == {}
    assert cr.lookup("a.example") is None


def test_credentials_repr_hides_secrets():
    text = repr(Credentials("alice", "hunter2", "tok"))
    assert "alice" in text and "hunter2" not in text and "tok" not in text.replace("token", "")
