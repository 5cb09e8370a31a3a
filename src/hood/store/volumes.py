"""Volumes as docker's local driver keeps them, and hood's record of each beside them.

    volumes/NAME/_data              what the container sees (docker's own place for it)
    hood/volumes/NAME.json          labels, creation time, anonymous or named

dockerd keeps labels and options in volumes/metadata.db (a bolt database); hood does not
write it, so a dockerd started on the data root sees hood's volumes (its local driver
lists volumes/) without their labels. A volume whose record is missing (made by dockerd)
is listed with none."""

from __future__ import annotations

import os
import time

from hood.core.errors import Conflict, HoodError, NotFound
from hood.core.fileio import remove_tree, write_atomic
from hood.core.jsonio import dumps, loads
from hood.core.lean import Record, suppress
from hood.store.layout import Layout
from hood.store.lock import FileLock

ANONYMOUS_LABEL = "com.docker.volume.anonymous"


class Volume(Record):
    __slots__ = ("name", "mountpoint", "labels", "created", "anonymous", "options")

    def __init__(
        self,
        name: str,
        mountpoint: str,
        labels: dict[str, str],
        created: str,
        anonymous: bool,
        options: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.mountpoint = mountpoint
        self.labels = labels
        self.created = created
        self.anonymous = anonymous
        self.options = options


def _created_text(seconds: float) -> str:
    """docker volume inspect's CreatedAt: RFC 3339 in local time, seconds only."""
    tm = time.localtime(seconds)
    off = tm.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + zone


class VolumeStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def locked(self) -> FileLock:
        return FileLock(self.layout.lock_file)

    def names(self) -> list[str]:
        try:
            entries = os.listdir(self.layout.volumes)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in entries if os.path.isdir(self.layout.volume_data(n)))

    def get(self, name: str) -> Volume:
        data = self.layout.volume_data(name)
        if "/" in name or name in ("", ".", "..") or not os.path.isdir(data):
            raise NotFound(f"get {name}: no such volume")
        record: dict = {}
        with suppress(OSError, ValueError, RecursionError, UnicodeDecodeError):
            with open(self.layout.hood_volume(name), "rb") as f:
                doc = loads(f.read())
            record = doc if isinstance(doc, dict) else {}
        labels = record.get("Labels")
        labels = labels if isinstance(labels, dict) else {}
        created = record.get("CreatedAt")
        if not isinstance(created, str):
            created = _created_text(os.stat(self.layout.volume_dir(name)).st_mtime)
        options = record.get("Options") if isinstance(record.get("Options"), dict) else None
        return Volume(name, data, labels, created, ANONYMOUS_LABEL in labels, options)

    def list(self) -> list[Volume]:
        out = []
        for name in self.names():
            with suppress(NotFound):
                out.append(self.get(name))
        return out

    def create(
        self, name: str | None = None, labels: dict[str, str] | None = None, *, anonymous: bool = False
    ) -> Volume:
        """The volume `name` (a new one, or the one that exists: docker's create is
        idempotent); a random 64-hex name when None."""
        name = name or os.urandom(32).hex()
        with self.locked():
            try:
                return self.get(name)
            except NotFound:
                pass
            labels = dict(labels or {})
            if anonymous:
                labels[ANONYMOUS_LABEL] = ""
            os.makedirs(self.layout.volumes, 0o701, exist_ok=True)
            vdir = self.layout.volume_dir(name)
            with suppress(FileExistsError):
                os.mkdir(vdir, 0o701)
            os.chmod(vdir, 0o701)  # docker's drwx-----x, whatever the umask
            record = {"Name": name, "Labels": labels, "CreatedAt": _created_text(time.time())}
            os.makedirs(os.path.dirname(self.layout.hood_volume(name)), exist_ok=True)
            write_atomic(self.layout.hood_volume(name), dumps(record), 0o600, durable=False)
            with suppress(FileExistsError):
                os.mkdir(self.layout.volume_data(name), 0o755)
        return self.get(name)

    def remove(self, name: str, users: list[str] | None = None) -> None:
        """Remove the volume and what it holds; Conflict when containers (`users`, their
        IDs) use it."""
        self.get(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        with self.locked():
            # the data first: a volume without _data is no longer listed
            remove_tree(self.layout.volume_data(name))
            remove_tree(self.layout.volume_dir(name))
            with suppress(FileNotFoundError):
                os.unlink(self.layout.hood_volume(name))


def size_of(path: str) -> int:
    """Bytes the files under `path` hold, hardlinks once (docker's volume size)."""
    total, seen = 0, set()
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def check_name(name: str) -> None:
    from hood.store.containers import valid_name

    if not valid_name(name):
        raise HoodError(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only'
            ' "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory,'
            " use absolute path"
        )
