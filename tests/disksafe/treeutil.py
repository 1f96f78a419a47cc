"""Build file trees for tests and describe them for comparison after a restore."""

from __future__ import annotations

import hashlib
import os
import stat


def write(path: bytes | str, data: bytes, mtime_ns: int | None = None) -> None:
    with open(path, "wb") as f:
        f.write(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def make_sample_tree(root: bytes) -> None:
    """A small tree with every file type the disk safe handles."""
    os.makedirs(os.path.join(root, b"dir/sub"), exist_ok=True)
    os.makedirs(os.path.join(root, b"empty-dir"), exist_ok=True)
    write(os.path.join(root, b"dir/a.txt"), b"hello world\n" * 100)
    write(os.path.join(root, b"dir/sub/big.bin"), os.urandom(3 * 1024 * 1024 + 17))
    write(os.path.join(root, b"empty"), b"")
    write(os.path.join(root, b"caf\xe9-latin1-\xff\xfe"), b"not utf-8 name")
    write(os.path.join(root, "snow-\u2603.txt".encode()), b"utf-8 name")
    os.symlink(b"dir/a.txt", os.path.join(root, b"link"))
    os.symlink(b"/nonexistent/target", os.path.join(root, b"dangling"))
    os.link(os.path.join(root, b"dir/a.txt"), os.path.join(root, b"dir/sub/hard-a"))
    sparse = os.path.join(root, b"sparse")
    with open(sparse, "wb") as f:
        f.truncate(20 * 1024 * 1024)
        f.seek(9 * 1024 * 1024)
        f.write(b"island")
    os.mkfifo(os.path.join(root, b"fifo"))
    os.setxattr(os.path.join(root, b"dir/a.txt"), b"user.comment", b"\x00binary\xff")
    os.setxattr(os.path.join(root, b"dir"), b"user.dirattr", b"d")
    os.chmod(os.path.join(root, b"dir/sub/big.bin"), 0o640)
    os.chmod(os.path.join(root, b"empty-dir"), 0o711)
    os.utime(os.path.join(root, b"empty"), ns=(1_000_000_001, 1_234_567_890_123_456_789))


def _xattrs(path: bytes) -> dict:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in names if n.startswith("user.")}


def describe(root: bytes, with_atime: bool = False) -> dict:
    """Path -> (type, mode, uid, gid, size, mtime, content hash / target, xattrs, link group)."""
    out: dict = {}
    inodes: dict = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            d = {"type": kind, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                 "gid": st.st_gid, "xattrs": _xattrs(path)}
            if not stat.S_ISDIR(kind):
                d["mtime"] = st.st_mtime_ns
            if stat.S_ISREG(kind):
                with open(path, "rb") as f:
                    d["sha"] = hashlib.sha256(f.read()).hexdigest()
                d["size"] = st.st_size
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(kind):
                d["target"] = os.readlink(path)
            out[rel] = d
    for group in inodes.values():
        for rel in group:
            out[rel]["links"] = sorted(group)
    # Directory mtimes are compared separately (walking changes nothing, but keep simple).
    for dirpath, dirs, _files in os.walk(root):
        for name in dirs:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)]["mtime"] = os.lstat(path).st_mtime_ns
    return out
