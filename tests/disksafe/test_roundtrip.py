"""Round trips: back up a tree, restore it, and find the same bytes and metadata."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from tests.disksafe.conftest import PASSWORD
from tests.disksafe.treeutil import describe, make_sample_tree


@pytest.mark.parametrize("encrypted", [True, False])
def test_every_file_type_round_trips_on_every_backend(storage_factory, tmp_path: Path,
                                                      encrypted: bool) -> None:
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    make_sample_tree(src)
    repo = Repository.init(storage_factory(), PASSWORD, encrypted=encrypted)
    point, stats = backup(repo, src, None)
    assert not stats.errors
    target = os.fsencode(tmp_path / "restored")
    result = restore(Repository.open(repo.storage, PASSWORD), point, target)
    assert not result.damaged
    assert describe(target) == describe(src)
    blocks = os.stat(os.path.join(target, b"sparse")).st_blocks * 512
    assert blocks < 20 * 1024 * 1024 // 2, "sparse file restored dense"


def test_chosen_paths_only(repo: Repository, source: bytes, tmp_path: Path) -> None:
    make_sample_tree(source)
    point, _ = backup(repo, source, None)
    target = os.fsencode(tmp_path / "part")
    restore(repo, point, target, [b"dir/sub", b"/link"])
    got = describe(target)
    assert set(got) == {b"dir", b"dir/sub", b"dir/sub/big.bin", b"dir/sub/hard-a", b"link"}
    want = describe(source)
    for p in (b"dir/sub/big.bin", b"link"):
        assert got[p] == want[p]
    assert got[b"dir/sub/hard-a"]["sha"] == want[b"dir/sub/hard-a"]["sha"]


_names = st.one_of(
    st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\x00" not in b
                                              and b not in (b".", b"..")),
    st.text(string.ascii_letters + "\u00e9\u2603 -_.", min_size=1, max_size=10)
    .map(str.encode).filter(lambda b: b not in (b".", b"..")),
)
_contents = st.one_of(st.binary(max_size=2000), st.just(b""),
                      st.integers(0, 3).map(lambda n: b"repeat" * (70_000 * n)))
_tree = st.recursive(
    st.one_of(_contents, st.tuples(st.just("link"), st.binary(min_size=1, max_size=30)
                                   .filter(lambda b: b"\x00" not in b))),
    lambda children: st.dictionaries(_names, children, max_size=5),
    max_leaves=20,
)


def _build(path: bytes, node, seen: list) -> None:
    if isinstance(node, dict):
        os.mkdir(path)
        for name, child in node.items():
            _build(os.path.join(path, name), child, seen)
    elif isinstance(node, tuple):
        os.symlink(node[1], path)
    else:
        with open(path, "wb") as f:
            f.write(node)
        os.chmod(path, 0o600 + (len(node) % 2) * 0o44)
        if seen and len(node) % 3 == 0:
            os.link(seen[0], path + b".hl")
        seen.append(path)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tree=st.dictionaries(_names, _tree, max_size=6))
def test_generated_trees_round_trip(storage_factory, tmp_path_factory, tree) -> None:
    base = os.fsencode(tmp_path_factory.mktemp("gen"))
    src = os.path.join(base, b"src")
    _build(src, tree, [])
    repo = Repository.init(storage_factory(), PASSWORD, encrypted=True)
    point, stats = backup(repo, src, None)
    assert not stats.errors
    target = os.path.join(base, b"out")
    restore(repo, point, target)
    assert describe(target) == describe(src)
    # A second, incremental backup of the same tree names the same root tree.
    again, _ = backup(repo, src, point)
    assert again.tree == point.tree


def test_large_files_restored_in_parallel_parts(repo: Repository, source: bytes, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from backuprun.disksafe import restorer

    monkeypatch.setattr(restorer, "SPLIT_SIZE", 1 << 20)
    monkeypatch.setattr(restorer, "SPLIT_PART", 300_000)
    with open(os.path.join(source, b"big"), "wb") as f:
        f.write(os.urandom(3_000_000))
    with open(os.path.join(source, b"holey"), "wb") as f:
        f.truncate(30 << 20)
        f.seek(12 << 20)
        f.write(os.urandom(1_000_000))
    os.chmod(os.path.join(source, b"big"), 0o4755)
    point, _ = backup(repo, source, None)
    target = os.fsencode(tmp_path / "out")
    restore(repo, point, target)
    assert describe(target) == describe(source)
    assert os.stat(os.path.join(target, b"holey")).st_blocks * 512 < 10 << 20


@pytest.mark.parametrize("own_process", [True, False])
def test_exact_modes_under_any_umask_and_process_settings_restored(
        repo: Repository, source: bytes, tmp_path: Path, own_process: bool) -> None:
    import gc
    import sys

    make_sample_tree(source)
    os.chmod(os.path.join(source, b"dir/a.txt"), 0o777)  # the umask would clear bits
    point, _ = backup(repo, source, None)
    old = os.umask(0o077)
    switch = sys.getswitchinterval()
    try:
        target = os.fsencode(tmp_path / "out")
        restore(repo, point, target, own_process=own_process)
        assert os.umask(0o077) == 0o077 and gc.isenabled()
        assert sys.getswitchinterval() == switch
    finally:
        os.umask(old)
    assert describe(target) == describe(source)
