"""HeaderReader: the one tar header reader behind apply_layer and the tree check."""

from __future__ import annotations

import io
import tarfile

import pytest
from layer_helpers import END, MTIME, checksum, gnu_long, pax_record, raw_entry, raw_header, raw_pax

from hood.core.errors import LayerError
from hood.layer.tarheader import (
    BLOCK,
    DIR,
    GPAX,
    LNK,
    REG,
    SYM,
    ZERO_BLOCK,
    HeaderLimits,
    HeaderReader,
    TarHeader,
    clean_name,
)


def read_all(data: bytes, limits: HeaderLimits | None = None) -> list[TarHeader]:
    """Every header of a tar, skipping content the way apply_layer does."""
    stream = io.BytesIO(data)
    reader = HeaderReader(limits)
    out = []
    while True:
        offset = stream.tell()
        block = stream.read(BLOCK)
        if len(block) < BLOCK or block == ZERO_BLOCK:
            return out
        header = reader.entry(block, stream.read, offset)
        out.append(header)
        stream.seek(header.size + (-header.size) % BLOCK, io.SEEK_CUR)


def one(data: bytes, **limits) -> TarHeader:
    headers = read_all(data + END, HeaderLimits(**limits) if limits else None)
    assert len(headers) == 1, headers
    return headers[0]


def with_field(block: bytes, start: int, value: bytes) -> bytes:
    b = bytearray(block)
    b[start : start + len(value)] = value
    checksum(b)
    return bytes(b)


def test_ustar_fields():
    h = one(raw_entry(b"name", b"data", mode=0o4755, prefix=b"pre/fix"))
    assert (h.name, h.typeflag, h.size, h.mode) == (b"pre/fix/name", REG, 4, 0o4755)
    assert (h.uid, h.gid, h.mtime_ns, h.atime_ns) == (0, 0, MTIME * 10**9, -1)
    assert (h.xattrs, dict(h.pax), h.offset) == ((), {}, 0)
    assert h.shown == "pre/fix/name"


def test_tarfile_formats_agree():
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            ti = tarfile.TarInfo("d/" + "n" * 90)
            ti.type = tarfile.DIRTYPE
            tf.addfile(ti)
            ti = tarfile.TarInfo("d/" + "f" * 150 if fmt != tarfile.USTAR_FORMAT else "d/f")
            ti.size, ti.uid, ti.gid, ti.mtime, ti.mode = 3, 1000, 100, MTIME, 0o640
            tf.addfile(ti, io.BytesIO(b"abc"))
            ti = tarfile.TarInfo("l")
            ti.type, ti.linkname = (
                tarfile.SYMTYPE,
                "t" * 120 if fmt != tarfile.USTAR_FORMAT else "t",
            )
            tf.addfile(ti)
        d, f, link = read_all(buf.getvalue())
        assert (d.typeflag, d.size) == (DIR, 0)
        assert f.name.startswith(b"d/f") and (f.size, f.uid, f.gid, f.mode) == (3, 1000, 100, 0o640)
        assert link.typeflag == SYM and link.linkname.startswith(b"t")


def test_gnu_long_name_and_link():
    h = one(
        gnu_long(b"L", b"x" * 300) + gnu_long(b"K", b"y" * 200) + raw_entry(b"s", typeflag=b"1")
    )
    assert (h.name, h.linkname, h.typeflag, h.offset) == (b"x" * 300, b"y" * 200, LNK, 0)


def test_pax_records():
    records = {
        b"path": b"p" * 200,
        b"linkpath": b"target",
        b"uid": b"70000",
        b"gid": b"80000",
        b"mtime": b"1700000000.5",
        b"atime": b"-1.25",
        b"SCHILY.xattr.user.a": b"1",
        b"SCHILY.xattr.security.capability": b"\x01\x02",
        b"comment": b"kept",
    }
    h = one(raw_pax(records) + raw_entry(b"short", b"12345"))
    assert (h.name, h.linkname, h.uid, h.gid) == (b"p" * 200, b"target", 70000, 80000)
    assert (h.mtime_ns, h.atime_ns) == (1_700_000_000_500_000_000, -1_250_000_000)
    assert h.xattrs == (("user.a", b"1"), ("security.capability", b"\x01\x02"))
    assert h.pax[b"comment"] == b"kept"
    assert h.size == 5


def test_pax_size_overrides_the_header():
    data = raw_pax({b"size": b"1024"}) + raw_header(b"big", size=0) + bytes(1024)
    assert one(data).size == 1024


def test_old_style_and_contiguous_types():
    assert one(raw_entry(b"dir/", typeflag=b"\0")).typeflag == DIR
    assert one(raw_entry(b"file", b"x", typeflag=b"\0")).typeflag == REG
    assert one(raw_entry(b"cont", b"x", typeflag=b"7")).typeflag == REG


def test_header_only_types_carry_no_content():
    # A hardlink header with a size field: the next header follows it directly.
    data = raw_header(b"hl", b"1", size=600, linkname=b"f") + raw_entry(b"next", b"n")
    hl, nxt = read_all(data + END)
    assert (hl.size, nxt.name) == (0, b"next")


def test_devices():
    block = with_field(raw_header(b"dev/null", b"3"), 329, b"0000001\x000000003\x00")
    h = one(block)
    assert (h.devmajor, h.devminor) == (1, 3)
    # An unreadable device field is only read for devices.
    bad = with_field(raw_header(b"f", b"0"), 329, b"zz")
    assert one(bad).devmajor == 0
    with pytest.raises(LayerError, match="'d'.*devmajor"):
        one(with_field(raw_header(b"d", b"4"), 329, b"zz"))


def test_base256_numbers():
    big = (0x80).to_bytes(1, "big") + (1 << 40).to_bytes(11, "big")
    h = one(with_field(raw_header(b"f"), 136, big))
    assert h.mtime_ns == (1 << 40) * 10**9
    negative = b"\xff" * 12  # -1
    assert one(with_field(raw_header(b"f"), 136, negative)).mtime_ns == -(10**9)
    uid = b"\x80" + (123456789).to_bytes(7, "big")
    assert one(with_field(raw_header(b"f"), 108, uid)).uid == 123456789


def test_invalid_numbers_name_the_entry():
    with pytest.raises(LayerError, match="entry 'f': invalid mode field"):
        one(with_field(raw_header(b"f"), 100, b"9999999\x00"))
    with pytest.raises(LayerError, match="'f': negative owner"):
        one(with_field(raw_header(b"f"), 108, b"\xff" * 8))
    with pytest.raises(LayerError, match="'f': negative size"):
        one(raw_pax({b"size": b"-1"}) + raw_header(b"f"))
    with pytest.raises(LayerError, match="'f': invalid PAX uid record"):
        one(raw_pax({b"uid": b"x"}) + raw_header(b"f"))
    with pytest.raises(LayerError, match="'f': invalid PAX time"):
        one(raw_pax({b"mtime": b"1.x"}) + raw_header(b"f"))
    with pytest.raises(LayerError, match="'f': sparse files"):
        one(raw_pax({b"GNU.sparse.major": b"1"}) + raw_header(b"f"))
    with pytest.raises(LayerError, match="malformed PAX record"):
        one(raw_entry(b"PaxHeader", b"9 a=b\n", b"x") + raw_header(b"f"))


def test_checksum():
    block = bytearray(raw_header(b"f"))
    block[0] = ord("g")  # the sum no longer matches
    with pytest.raises(LayerError, match=r"checksum at offset 1024 \(name 'g'\)"):
        read_all(raw_entry(b"a", b"x") + bytes(block) + END)
    # Old tars summed signed bytes: accepted too.
    signed = bytearray(raw_header(b"\xe9t\xe9"))
    signed[148:156] = b" " * 8
    total = sum(b - 256 if b > 127 else b for b in signed)
    signed[148:156] = b"%06o\x00 " % total
    assert one(bytes(signed)).name == b"\xe9t\xe9"


@pytest.mark.parametrize(
    ("records", "typeflag", "entry"),
    [
        ({b"path": b"a\x00b"}, b"0", "a\\x00b"),
        ({b"linkpath": b"t\x00u"}, b"2", "'f'"),
        ({b"SCHILY.xattr.user.a\x00b": b"v"}, b"0", "'f'"),
    ],
)
def test_nul_in_pax_names(records, typeflag, entry):
    with pytest.raises(LayerError, match="NUL") as err:
        one(raw_pax(records) + raw_header(b"f", typeflag))
    assert entry in str(err.value)


def test_global_pax_header_is_an_entry_of_its_own():
    g = raw_entry(b"pax_global_header", pax_record(b"comment", b"g" * 600), b"g")
    headers = read_all(g + raw_entry(b"f", b"x") + END)
    assert [(h.name, h.typeflag, h.size) for h in headers] == [
        (b"pax_global_header", GPAX, 0),
        (b"f", REG, 1),
    ]
    assert headers[1].offset == len(g)
    with pytest.raises(LayerError, match="global PAX header of"):
        read_all(g + END, HeaderLimits(max_pax_size=100))


def test_meta_limits():
    chain = b"".join(raw_pax({b"comment": b"c"}) for _ in range(3))
    assert one(chain + raw_header(b"f"), max_meta_headers=3).name == b"f"
    with pytest.raises(LayerError, match=r"entry #1 \(header at offset 2048\): more than 2"):
        one(chain + raw_header(b"f"), max_meta_headers=2)
    big = raw_pax({b"comment": b"c" * 5000})
    with pytest.raises(LayerError, match="'PaxHeader': x header of 5014 bytes exceeds"):
        one(big + raw_header(b"f"), max_pax_size=4096)
    with pytest.raises(LayerError, match="entry #1 .*or 4096 bytes of them"):
        one(big + raw_header(b"f"), max_meta_size=4096)
    with pytest.raises(LayerError, match="entry #1 .*exceeds the 4096-byte limit"):
        one(big + raw_header(b"f"), max_total_size=4096)
    with pytest.raises(LayerError, match="entry 'f': layer content exceeds the 10-byte"):
        one(raw_entry(b"f", b"x" * 11), max_total_size=10)


def test_truncated_meta():
    pax = raw_pax({b"comment": b"c" * 600})
    with pytest.raises(LayerError, match="ends inside a x header"):
        read_all(pax[:700])
    with pytest.raises(LayerError, match="ends after a L header"):
        read_all(gnu_long(b"L", b"name") + END)


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        (b"a/b", b"a/b"),
        (b"./a//b/", b"a/b"),
        (b"/etc/passwd", b"etc/passwd"),
        (b"/../x", b"x"),
        (b"a/../b", b"b"),
        (b"", b"."),
        (b"./", b"."),
        (b"..", None),
        (b"a/../../x", None),
    ],
)
def test_clean_name(name, clean):
    assert clean_name(name) == clean
