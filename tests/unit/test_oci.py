import json

import pytest

from hood.core import oci
from hood.core.errors import ManifestError, PlatformError
from hood.core.imageconfig import ImageConfig

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def index(*plats: dict) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": oci.OCI_MANIFEST,
                    "digest": f"sha256:{i:064x}",
                    "size": 10,
                    "platform": p,
                }
                for i, p in enumerate(plats)
            ],
        }
    ).encode()


def test_index_selects_platform_with_variant_rules() -> None:
    doc = oci.parse_document(
        index(
            {"os": "linux", "architecture": "amd64"},
            {"os": "linux", "architecture": "arm64", "variant": "v8"},
            {"os": "linux", "architecture": "arm", "variant": "v6"},
            {"os": "linux", "architecture": "arm", "variant": "v7"},
        )
    )
    assert isinstance(doc, oci.Index)
    assert doc.select(oci.Platform.parse("linux/arm64")).digest.hex.endswith("1")
    assert doc.select(oci.Platform.parse("linux/arm64/v8")).digest.hex.endswith("1")
    assert doc.select(oci.Platform.parse("linux/arm")).digest.hex.endswith("3")
    assert doc.select(oci.Platform.parse("linux/arm/v6")).digest.hex.endswith("2")
    with pytest.raises(PlatformError, match='"linux/amd64", "linux/arm/v6"'):
        doc.select(oci.Platform.parse("linux/s390x"))


def test_manifest_parses_and_keeps_bytes() -> None:
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.DOCKER_MANIFEST,
            "config": {"mediaType": oci.DOCKER_CONFIG, "digest": D1, "size": 3},
            "layers": [{"mediaType": oci.DOCKER_LAYER_GZIP, "digest": D2, "size": 5}],
        },
        indent=3,
    ).encode()
    doc = oci.parse_document(raw, oci.DOCKER_MANIFEST)
    assert isinstance(doc, oci.Manifest)
    assert doc.raw == raw
    assert str(doc.layers[0].digest) == D2


@pytest.mark.parametrize(
    ("raw", "ctype", "problem"),
    [
        (b"{not json", "", "not valid JSON"),
        (b"[]", "", "not a JSON object"),
        (json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), "", "schema 1"),
        (json.dumps({"schemaVersion": 2, "layers": [], "manifests": []}).encode(), "", "both"),
        (
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": oci.OCI_MANIFEST,
                    "config": {"digest": "sha256:../x", "size": 1},
                    "layers": [],
                }
            ).encode(),
            "",
            "invalid digest",
        ),
        (
            json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}).encode(),
            oci.DOCKER_MANIFEST,
            "disagrees",
        ),
        (b" " * (oci.MAX_MANIFEST_SIZE + 1), "", "larger"),
    ],
)
def test_bad_documents_rejected(raw: bytes, ctype: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        oci.parse_document(raw, ctype)


def test_config_requires_diff_ids() -> None:
    with pytest.raises(ManifestError, match="diff_ids"):
        ImageConfig.parse(b'{"architecture":"amd64"}')
    cfg = ImageConfig.parse(
        json.dumps({"rootfs": {"type": "layers", "diff_ids": [D1]}}).encode()
    )
    assert [str(d) for d in cfg.diff_ids] == [D1]


def test_config_diff_ids_must_be_sha256() -> None:
    """Docker keys layers (diff_ids, chain IDs) by sha256 alone."""
    sha512 = "sha512:" + "a" * 128
    doc = {"rootfs": {"type": "layers", "diff_ids": [D1, sha512]}}
    with pytest.raises(ManifestError, match="diff_ids.*only sha256"):
        ImageConfig.parse(json.dumps(doc).encode())


def test_manifest_config_digest_must_be_sha256() -> None:
    """The config digest is the image ID: sha256 only. Layer blobs may be sha512."""
    sha512 = "sha512:" + "b" * 128
    layer = {"mediaType": oci.DOCKER_LAYER_GZIP, "digest": sha512, "size": 3}
    doc = {
        "schemaVersion": 2,
        "mediaType": oci.DOCKER_MANIFEST,
        "config": {"mediaType": oci.DOCKER_CONFIG, "digest": D1, "size": 3},
        "layers": [layer],
    }
    manifest = oci.parse_document(json.dumps(doc).encode(), oci.DOCKER_MANIFEST)
    assert manifest.layers[0].digest.algorithm == "sha512"
    doc["config"]["digest"] = sha512
    with pytest.raises(ManifestError, match="not sha256"):
        oci.parse_document(json.dumps(doc).encode(), oci.DOCKER_MANIFEST)
