"""Reading file metadata into tree entries (backup side)."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from functools import lru_cache

_TYPES = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFCHR: "c",
          stat.S_IFBLK: "b", stat.S_IFIFO: "p", stat.S_IFSOCK: "s"}


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def read_xattrs(path: bytes) -> dict[bytes, bytes] | None:
    """Extended attributes of ``path`` (not following symlinks), or None."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT, errno.EPERM):
            return None
        raise
    if not names:
        return None
    out = {}
    for name in names:
        try:
            out[name.encode("utf-8", "surrogateescape")] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
    return out or None


def entry_for(name: bytes, path: bytes, st: os.stat_result) -> dict:
    """A tree entry for ``path`` from its lstat result (no content)."""
    kind = _TYPES.get(stat.S_IFMT(st.st_mode), "f")
    e = {"n": name, "t": kind, "m": stat.S_IMODE(st.st_mode), "u": st.st_uid, "g": st.st_gid,
         "at": st.st_atime_ns, "mt": st.st_mtime_ns, "ct": st.st_ctime_ns,
         "i": st.st_ino, "dv": st.st_dev, "nl": st.st_nlink}
    un = user_name(st.st_uid)
    if un is not None:
        e["un"] = un
    gn = group_name(st.st_gid)
    if gn is not None:
        e["gn"] = gn
    if kind == "f":
        e["sz"] = st.st_size
        if st.st_size and st.st_blocks * 512 < st.st_size:
            e["sp"] = True
    elif kind == "l":
        e["lt"] = os.readlink(path)
    elif kind in ("c", "b"):
        e["rd"] = st.st_rdev
    x = read_xattrs(path)
    if x:
        e["x"] = x
    return e


def same_file(prev: dict | None, st: os.stat_result) -> bool:
    """Whether ``prev`` (a parent's entry) describes an unchanged regular file."""
    return (prev is not None and prev["t"] == "f" and "c" in prev
            and prev.get("sz") == st.st_size and prev.get("mt") == st.st_mtime_ns
            and prev.get("ct") == st.st_ctime_ns and prev.get("i") == st.st_ino)
