"""The Python API: the README's example as written, against the suite's registry, and what
the API promises besides (typed errors, nothing printed)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from support import images as fixture_images

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example() -> str:
    text = README.read_text()
    section = text.split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Python API section has no python example"
    return match.group(1)


@pytest.fixture
def app(plain_registry, built_images):
    """busybox pushed as team/app:1.2, where the README's example pulls from."""
    return fixture_images.push(plain_registry, built_images["busybox"], "team/app", "1.2")


@pytest.mark.skipif(os.geteuid() != 0, reason="run needs root")
def test_readme_example_runs(app, tmp_path, capfd):
    code = _readme_example()
    root = tmp_path / "root"
    code = code.replace("registry:5000", app.registry.host)
    code = code.replace('"/var/lib/hood"', repr(str(root)))
    code = code.replace('"/tmp/app-rootfs"', repr(str(tmp_path / "rootfs")))
    assert app.registry.host in code and str(root) in code
    os.environ["HOOD_INSECURE_REGISTRIES"] = app.registry.host
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        del os.environ["HOOD_INSECURE_REGISTRIES"]
    out, err = capfd.readouterr()
    assert "Untagged: app:prod" in out
    assert (tmp_path / "rootfs" / "bin" / "busybox").exists()
    # the library printed only what the example printed: no progress, no warnings
    assert err == ""


def test_store_errors_are_typed(tmp_path):
    import hood

    store = hood.Store(tmp_path / "root")
    with pytest.raises(hood.NotFound):
        store.image("nothing:here")
    with pytest.raises(hood.InvalidReference):
        store.pull("Upper/Case")
    assert issubclass(hood.NotFound, hood.HoodError)
    assert set(hood.__all__) >= {"Store", "Image", "HoodError", "NotFound", "Conflict"}


def test_store_refuses_an_unsafe_root(tmp_path):
    import hood

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(hood.StoreError, match="symlink"):
        hood.Store(tmp_path / "link")


@pytest.mark.skipif(os.geteuid() != 0, reason="run needs root")
def test_run_reports_status_and_stderr(app, tmp_path, monkeypatch):
    import hood

    monkeypatch.setenv("HOOD_INSECURE_REGISTRIES", app.registry.host)
    store = hood.Store(tmp_path / "root")
    store.pull(app.ref)
    result = store.run(app.ref, ["sh", "-c", "echo out; echo err >&2; exit 3"], capture=True)
    assert (result.status, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    # without remove, the container stays, with its log
    assert result.container_id
    assert os.path.isdir(tmp_path / "root" / "containers" / result.container_id)
    removed = store.run(app.ref, ["true"], remove=True, capture=True)
    assert not os.path.exists(tmp_path / "root" / "containers" / removed.container_id)
