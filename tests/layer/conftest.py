"""Fixtures for the layer tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from hood.layer.apply import AppliedLayer, ApplyOptions, apply_layer

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (devices, owners, trusted xattrs)")


class Env:
    """A target dir with a sentinel dir beside it that no layer may touch."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.target = base / "root"
        self.target.mkdir()
        self.sentinel = base / "sentinel"
        self.sentinel.mkdir()
        (self.sentinel / "victim").write_text("precious")
        self.tar_split = io.BytesIO()

    def snapshot(self) -> list[tuple]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.base):
            if Path(dirpath).is_relative_to(self.target):
                continue
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if p == self.target:
                    continue
                st = os.lstat(p)
                out.append((str(p), st.st_mode, st.st_mtime_ns, st.st_size, st.st_uid))
        return sorted(out)

    def apply(self, data: bytes, **kw) -> AppliedLayer:
        self.tar_split = io.BytesIO()
        return apply_layer(
            io.BytesIO(data), self.target, tar_split=self.tar_split, options=ApplyOptions(**kw)
        )


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)
