"""Run the hood CLI as a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    args: list[str]
    peak_kib: int = 0  # the process's peak resident memory (run(..., measure=True))

    def __iter__(self):  # status, out, err = hood.run(...)
        return iter((self.status, self.stdout, self.stderr))

    def ok(self) -> Result:
        assert self.status == 0, (
            f"hood {' '.join(self.args)} exited {self.status}\n"
            f"stdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"
        )
        return self

    def failed(self) -> Result:
        """Exit 1 with one clear line on stderr and no traceback."""
        assert self.status == 1, (
            f"hood {' '.join(self.args)} exited {self.status}, wanted 1\n"
            f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"
        )
        assert "Traceback" not in self.stderr, self.stderr
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, f"want one line on stderr, got {len(lines)}:\n{self.stderr}"
        return self

    @property
    def error(self) -> str:
        return self.stderr.strip()


class Hood:
    """`hood --root ROOT ...` with a controlled environment.

    DOCKER_CONFIG points to an empty dir by default so the host's credentials never leak in."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, home: Path | None = None):
        self.root = Path(root)
        self.home = home or self.root.parent / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".docker").mkdir(exist_ok=True)
        self.env = dict(env or {})

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HOOD_", "DOCKER_")) and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
        }
        env["HOME"] = str(self.home)
        env["DOCKER_CONFIG"] = str(self.home / ".docker")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
        env.update(self.env)
        env.update(extra or {})
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hood.cli.main", "--root", str(self.root), *map(str, args)]

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 180,
        input: str | None = None,
        measure: bool = False,
    ) -> Result:
        if measure:
            return self._run_measured(args, env, timeout)
        proc = subprocess.run(
            self.argv(*args),
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr, list(map(str, args)))

    def _run_measured(self, args, env, timeout: float) -> Result:
        """Run and reap the process with wait4, for its own peak memory (ru_maxrss)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                self.argv(*args), env=self.environ(env), stdin=subprocess.DEVNULL,
                stdout=out, stderr=err,
            )  # fmt: skip
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
            out.seek(0)
            err.seek(0)
            return Result(
                proc.returncode,
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
                list(map(str, args)),
                usage.ru_maxrss,
            )

    def popen(self, *args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            self.argv(*args), env=self.environ(env), stdin=subprocess.DEVNULL, **kw
        )

    def with_env(self, **env: str) -> Hood:
        h = Hood(self.root, {**self.env, **env}, self.home)
        return h
