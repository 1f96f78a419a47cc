"""Confinement: paths of a recovery point map under the root, and nothing escapes it."""

from __future__ import annotations

import os

import pytest

from backuprun.agent import paths


@pytest.fixture
def layout(tmp_path):
    """``root`` (with ``etc/hosts``) and ``outside`` (with ``secret``) side by side."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("inside\n")
    outside.mkdir()
    (outside / "secret").write_text("outside\n")
    return root, outside


def read(root, path) -> str:
    with paths.open_read(root, path) as file:
        return file.read().decode()


def write(root, path, text, **options) -> None:
    with paths.open_write(root, path, **options) as file:
        file.write(text.encode())


def test_split_drops_empty_and_dot_and_refuses_dotdot():
    assert paths.split("/etc//./hosts") == ("etc", "hosts")
    assert paths.split("etc/hosts") == ("etc", "hosts")
    for bad in ("../x", "/etc/../../x", "a/..", "..", "a\0b"):
        with pytest.raises(paths.PathEscape):
            paths.split(bad)


def test_absolute_paths_are_relative_to_the_root(layout):
    root, _ = layout
    assert read(root, "/etc/hosts") == "inside\n"
    assert read(root, "//etc/hosts") == "inside\n"
    write(root, "/etc/hostname", "agent\n")
    assert (root / "etc" / "hostname").read_text() == "agent\n"


def test_dotdot_cannot_climb_out(layout):
    root, outside = layout
    for path in (f"../{outside.name}/secret", f"/etc/../../{outside.name}/secret"):
        with pytest.raises(paths.PathEscape):
            read(root, path)
        with pytest.raises(paths.PathEscape):
            write(root, path, "overwritten")
    assert (outside / "secret").read_text() == "outside\n"


def test_the_root_itself_is_not_a_file(layout):
    root, _ = layout
    for path in ("", "/", "/./"):
        with pytest.raises(paths.PathEscape):
            read(root, path)


def test_a_symlinked_parent_pointing_outside_is_refused(layout):
    root, outside = layout
    (root / "link").symlink_to(outside)
    (root / "etc" / "inner").symlink_to(root / "etc")  # even one pointing inside
    with pytest.raises(paths.PathEscape, match="'link' is a symbolic link"):
        read(root, "/link/secret")
    with pytest.raises(paths.PathEscape):
        write(root, "/link/secret", "overwritten")
    with pytest.raises(paths.PathEscape):
        write(root, "/link/new/file", "created")
    with pytest.raises(paths.PathEscape):
        read(root, "/etc/inner/hosts")
    assert (outside / "secret").read_text() == "outside\n"
    assert sorted(os.listdir(outside)) == ["secret"]


def test_a_symlink_at_the_final_component(layout):
    root, outside = layout
    (root / "etc" / "shadow").symlink_to(outside / "secret")
    with pytest.raises(paths.PathEscape, match="'shadow' is a symbolic link"):
        read(root, "/etc/shadow")
    write(root, "/etc/shadow", "restored\n")  # replaces the link, never writes through it
    assert not (root / "etc" / "shadow").is_symlink()
    assert (root / "etc" / "shadow").read_text() == "restored\n"
    assert (outside / "secret").read_text() == "outside\n"


def test_a_hard_link_to_an_outside_file_is_replaced_not_rewritten(layout):
    root, outside = layout
    os.link(outside / "secret", root / "etc" / "linked")
    write(root, "/etc/linked", "restored\n")
    assert (root / "etc" / "linked").read_text() == "restored\n"
    assert (outside / "secret").read_text() == "outside\n"


def test_writing_creates_parents_and_is_all_or_nothing(layout):
    root, _ = layout
    write(root, "/var/lib/app/data", "new\n", mode=0o600)
    target = root / "var" / "lib" / "app" / "data"
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(RuntimeError):
        with paths.open_write(root, "/etc/hosts") as file:
            file.write(b"half")
            raise RuntimeError("the connection was lost")
    assert read(root, "/etc/hosts") == "inside\n"
    assert sorted(os.listdir(root / "etc")) == ["hosts"]  # no temporary file left


def test_exclusive_writing_keeps_what_is_there(layout):
    root, _ = layout
    with pytest.raises(FileExistsError):
        write(root, "/etc/hosts", "replaced", exclusive=True)
    assert read(root, "/etc/hosts") == "inside\n"
    write(root, "/etc/fresh", "new", exclusive=True)
    assert sorted(os.listdir(root / "etc")) == ["fresh", "hosts"]


def test_missing_files_and_parents(layout):
    root, _ = layout
    with pytest.raises(FileNotFoundError):
        read(root, "/etc/nothing")
    with pytest.raises(FileNotFoundError):
        read(root, "/nothing/at/all")
    assert not (root / "nothing").exists()  # reading never creates


def test_parent_of_gives_a_directory_fd_for_other_calls(layout):
    root, outside = layout
    (root / "etc" / "shadow").symlink_to(outside / "secret")
    with paths.parent_of(root, "/etc/shadow") as (fd, name):
        assert os.readlink(name, dir_fd=fd) == str(outside / "secret")
