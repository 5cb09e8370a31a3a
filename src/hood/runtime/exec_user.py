"""The user a container's process runs as: `--user` or the image's User resolved against
the container's /etc/passwd and /etc/group, as runc resolves it. Pure functions over the
files' text: the caller reads them inside the container's root."""

from __future__ import annotations

from hood.core.lean import Frozen
from hood.runtime.spec_errors import UserError


class ExecUser(Frozen):
    __slots__ = ("uid", "gid", "groups", "home")

    def __init__(self, uid: int, gid: int, groups: tuple[int, ...], home: str) -> None:
        self._init(uid=uid, gid=gid, groups=groups, home=home)


def _parse_colon_file(text: str, fields: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        parts += [""] * (fields - len(parts))
        out.append(parts)
    return out


def _to_id(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value <= 0x7FFFFFFF:
            return value
    return None


def resolve_user(spec: str, passwd: str | None, group: str | None) -> ExecUser:
    """`name|uid[:group|gid]` against the container's /etc/passwd and /etc/group, as runc does.

    Unknown numeric IDs are allowed (gid 0, HOME /); unknown names are errors. Supplementary
    groups come from /etc/group membership, only when no group was given explicitly."""
    user_arg, _, group_arg = (spec or "").partition(":")
    if not user_arg:
        user_arg = "0"
    uid_arg = _to_id(user_arg)
    uid, gid, home, name = (uid_arg if uid_arg is not None else 0), 0, "/", ""
    matched = None
    for parts in _parse_colon_file(passwd or "", 7):
        p_uid = _to_id(parts[2])
        if parts[0] == user_arg or (uid_arg is not None and p_uid == uid_arg):
            matched = parts
            break
    if matched is not None:
        name = matched[0]
        uid = _to_id(matched[2]) or 0
        gid = _to_id(matched[3]) or 0
        home = matched[5] or "/"
    elif uid_arg is None:
        raise UserError(f"unable to find user {user_arg}: no matching entries in passwd file")
    groups: list[int] = []
    entries = _parse_colon_file(group or "", 4)
    if group_arg:
        gid_arg = _to_id(group_arg)
        found = None
        for parts in entries:
            if parts[0] == group_arg or (gid_arg is not None and _to_id(parts[2]) == gid_arg):
                found = _to_id(parts[2])
                break
        if found is None:
            if gid_arg is None:
                raise UserError(
                    f"unable to find group {group_arg}: no matching entries in group file"
                )
            found = gid_arg
        gid = found
    elif name:
        for parts in entries:
            members = [m.strip() for m in parts[3].split(",") if m.strip()]
            g = _to_id(parts[2])
            if name in members and g is not None:
                groups.append(g)
    return ExecUser(uid, gid, tuple(groups), home)
