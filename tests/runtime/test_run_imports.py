"""`hood run` must start fast (issue 7: ≤ 0.3× `docker run`): every module it imports costs
milliseconds. Its import set, as `python -X importtime` reports it for a whole
`hood run --rm busybox true`, must stay within this budget; a module that joins the run path
(say `re` or `argparse`) must be added here on purpose, or kept off the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
LAUNCHER = "import sys; from hood.cli.main import main; sys.exit(main())"  # as scripts/hood

# Standard library modules beyond what `python -S -c pass` loads.
STDLIB_BUDGET = {
    "__future__",
    "_collections_abc",
    "_ctypes",
    "_json",
    "_sha256",
    "_stat",
    "errno",
    "fcntl",
    "genericpath",
    "os",
    "posixpath",
    "select",
    "stat",
}
HOOD_BUDGET = {
    "hood",
    "hood.cli",
    "hood.cli.command_line",
    "hood.cli.commands",
    "hood.cli.flag_values",
    "hood.cli.flags",
    "hood.cli.main",
    "hood.cli.run_cmd",
    "hood.cli.run_options",
    "hood.core",
    "hood.core.digest",
    "hood.core.errors",
    "hood.core.fileio",
    "hood.core.imageconfig",
    "hood.core.jsonio",
    "hood.core.lean",
    "hood.core.platform",
    "hood.core.privilege",
    "hood.core.version",  # one constant: the package's __version__ (hood/__init__.py)
    "hood.core.reference",
    "hood.layer",  # an empty package: overlay's names for the init layer
    "hood.layer.overlay",
    "hood.runtime",
    "hood.runtime.builtin",
    "hood.runtime.capabilities",
    "hood.runtime.cgroups",  # every container gets a cgroup, as under docker
    "hood.runtime.child",  # the built-in runtime's modules are loaded before the fork (the
    # child cannot import once the host's files are gone); console (-t), hood_init (--init)
    # and user_namespace (rootless) only when the container needs them
    "hood.runtime.devices",
    "hood.runtime.exec_user",
    "hood.runtime.json_log",
    "hood.runtime.launch",
    "hood.runtime.linux",
    "hood.runtime.mount_spec",
    "hood.runtime.mounts",
    "hood.runtime.process",
    "hood.runtime.rootfs",
    "hood.runtime.seccomp",  # docker's default profile, applied to every container: the
    "hood.runtime.seccomp_bpf",  # parent makes its filter (or reads it from the cache)
    "hood.runtime.seccomp_default",  # after the fork, while the child sets up: the profile's
    "hood.runtime.seccomp_profile",  # data and its types (not seccomp_json: custom ones)
    "hood.runtime.spec",  # and its parts: capabilities, exec_user, mount_spec, spec_errors
    "hood.runtime.spec_errors",
    "hood.services",
    "hood.services.container_create",
    "hood.services.container_lifecycle",
    "hood.services.container_records",  # config.v2.json and hostconfig.json, out of create
    "hood.services.container_spec",
    "hood.store",
    "hood.store.container_names",
    "hood.store.containers",
    "hood.store.images",
    "hood.store.layers",
    "hood.store.layout",
    "hood.store.lock",
    "hood.store.rwlayers",
}
# What the budget exists to keep out (each costs a millisecond or more here).
NEVER = {
    "argparse", "re", "json", "enum", "dataclasses", "pathlib", "typing", "contextlib",
    "ctypes",  # runtime.linux calls libc through _ctypes, its C half
}  # fmt: skip


def _imported(*args: str) -> set[str]:
    """Modules `python -S -X importtime ARGS` imports (its stderr's import lines)."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("PYTHONSTARTUP", None)
    r = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return set(_import_order(r.stderr))


def _import_order(stderr: str) -> list[str]:
    """The modules of `-X importtime`'s lines in `stderr`, in the order they finished."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line and "self [us]" not in line
    ]


def test_run_imports_stay_within_budget(data_root):
    run = ("-c", LAUNCHER, "--root", str(data_root), "run", "--rm", "busybox", "true")
    _imported(*run)  # the first run compiles the seccomp filter (libseccomp, through ctypes)
    base = _imported("-c", "pass")
    used = _imported(*run)
    extra = used - base
    assert not extra & NEVER, f"on hood run's path: {sorted(extra & NEVER)}"
    over = extra - STDLIB_BUDGET - HOOD_BUDGET
    assert not over, f"hood run imports more than its budget: {sorted(over)}"
    assert "hood.cli.run_cmd" in extra  # the run really ran through the CLI


def test_installed_command_imports_nothing_before_hood(tmp_path):
    """`pip install .` gives the `hood` of scripts/hood, not an entry point's wrapper (which
    imports `re`: ~7 ms of every start); it runs and loads only what hood itself loads."""
    project = tmp_path / "project"  # a copy: the build writes build/ and egg-info beside it
    project.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, project / part)
    for part in ("scripts", "src"):
        shutil.copytree(
            REPO / part, project / part, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
        )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(project)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-2000:]
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run(
        [str(venv / "bin" / "hood"), "--version"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and r.stdout.startswith("hood version"), r.stderr[-2000:]
    loaded = _import_order(r.stderr)
    first = next(i for i, name in enumerate(loaded) if name.split(".")[0] == "hood")
    before_hood = loaded[:first]
    assert not set(before_hood) & NEVER, f"the command imports {sorted(set(before_hood) & NEVER)}"
