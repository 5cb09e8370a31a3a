"""The same tar gives the same tar-split whatever sizes its reads come in (a resumed
download reads the partial file, then the network, in other pieces)."""

import gzip
import io
import os
import random
import tarfile

from hood.layer.apply import apply_layer


class _Chunky:
    """A stream whose reads return 1..most bytes, at random."""

    def __init__(self, data: bytes, most: int, seed: int) -> None:
        self.data = io.BytesIO(data)
        self.most = most
        self.rng = random.Random(seed)

    def read(self, n: int = -1) -> bytes:
        k = self.rng.randint(1, self.most)
        return self.data.read(k if n < 0 else min(n, k))

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _tar() -> bytes:
    rng = random.Random(7)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(40):
            data = rng.randbytes(rng.randint(0, 5000))
            info = tarfile.TarInfo(f"d/f{i}" + "x" * (i * 4))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # tarfile pads to a 10240-byte record: trailing zeros after the end blocks
    return buf.getvalue() + b"trailing garbage" * 100


def test_tar_split_does_not_depend_on_read_sizes(tmp_path) -> None:
    raw = _tar()
    results = set()
    for i, most in enumerate((1 << 20, 7, 1000, 65536)):
        target = tmp_path / str(i)
        target.mkdir()
        out = io.BytesIO()
        apply_layer(_Chunky(raw, most, seed=i), target, tar_split=out)
        results.add(gzip.decompress(out.getvalue()))
    assert len(results) == 1
    assert os.listdir(tmp_path / "0")  # something was extracted
