"""Debian's dockerd, started by the tests with roots of its own and no host network changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .util import stop_process, wait_until

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
DOCKER = shutil.which("docker") or "/usr/bin/docker"


@dataclass
class Dockerd:
    workdir: Path
    insecure_registries: list[str]
    proc: subprocess.Popen | None = None

    @property
    def data_root(self) -> Path:
        return self.workdir / "data"

    @property
    def exec_root(self) -> Path:
        return self.workdir / "exec"

    @property
    def sock(self) -> Path:
        return self.workdir / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def log(self) -> Path:
        return self.workdir / "dockerd.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.workdir / "client")
        return env

    def docker(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [DOCKER, *args], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def start(self) -> Dockerd:
        for d in (self.data_root, self.exec_root, self.workdir / "client"):
            d.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "daemon.json"
        config.write_text(json.dumps({"features": {"containerd-snapshotter": False}}))
        argv = [
            DOCKERD,
            "--config-file", str(config),
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.workdir / "dockerd.pid"),
            "-H", self.host,
            "--storage-driver", "overlay2",
            "--bridge", "none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--log-level", "warn",
        ]  # fmt: skip
        for reg in self.insecure_registries:
            argv += ["--insecure-registry", reg]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log.read_text()[-1500:]}")
            return self.docker("version", timeout=10, check=False).returncode == 0

        try:
            wait_until(ready, 60, "dockerd")
            driver = self.docker("info", "--format", "{{.Driver}}").stdout.strip()
            if driver != "overlay2":
                raise RuntimeError(f"dockerd uses storage driver {driver!r}, not overlay2")
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Remove every container and image, so a test module compares against exactly
        what it pulled itself (the dockerd is shared by the whole session)."""
        containers = self.docker("ps", "-aq").stdout.split()
        if containers:
            self.docker("rm", "-f", *containers)
        images = sorted(set(self.docker("images", "-aq", "--no-trunc").stdout.split()))
        if images:
            self.docker("rmi", "-f", *images)

    def stop_daemon(self) -> None:
        """Stop dockerd and unmount what it mounted; its data root stays."""
        if self.proc is not None:
            stop_process(self.proc, timeout=30)
            self.proc = None
        self._unmount()

    def stop(self) -> None:
        self.stop_daemon()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _unmount(self) -> None:
        unmount_below(self.workdir)


def unmount_below(directory: Path) -> None:
    """Unmount everything dockerd left mounted under `directory`, deepest first (its
    exec root's netns/default is a mount inside a plain directory: `umount -R` misses it)."""
    prefix = str(directory).rstrip("/") + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for mp in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def pull_with_both(
    dockerd: Dockerd, images: dict, names: list[str], hood_pull: Callable[[Any], tuple]
) -> dict:
    """name -> (pushed image, docker inspect doc, *hood_pull(pushed)).

    dockerd is reset, then pulls and inspects each image before hood_pull has hood take it."""
    dockerd.reset()
    out = {}
    for name in names:
        p = images[name]
        dockerd.docker("pull", p.ref)
        d_doc = json.loads(dockerd.docker("image", "inspect", p.ref).stdout)[0]
        out[name] = (p, d_doc, *hood_pull(p))
    return out


def start(insecure_registries: list[str]) -> Dockerd:
    workdir = Path(tempfile.mkdtemp(prefix="hood-dockerd-", dir="/tmp"))
    return Dockerd(workdir, insecure_registries).start()
