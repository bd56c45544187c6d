"""Atomic file writes, file copies that share blocks where the file system can, and owner-only directories.

Every file of the data directory is written to a temporary name in its final directory and renamed into place,
so a reader (or the next run after a crash) sees the old file or the new one, never half of one. Temporary
files are created with mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def copy_file(source: Path | str, target: Path | str) -> None:
    """``target`` (created or truncated) becomes a copy of ``source``, made with ``os.copy_file_range``: on a file
    system that shares blocks between files (XFS with reflink, Btrfs, bcachefs, ZFS 2.2) the kernel clones the file
    in milliseconds whatever its size, and a block is copied only when one of the two files writes it; elsewhere
    (ext4) it is an in-kernel copy, as fast as ``shutil.copyfile``. Falls back to ``shutil.copyfile`` where
    ``copy_file_range`` is missing or refuses the pair (another file system, an old kernel): a real failure such as
    a full disk then fails there too."""
    if hasattr(os, "copy_file_range"):
        with open(source, "rb") as src, open(target, "wb") as dst:
            size = os.fstat(src.fileno()).st_size
            copied = 0
            with contextlib.suppress(OSError):
                while copied < size:
                    n = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                    if n == 0:  # the source shrank under us: let the plain copy say what it finds
                        break
                    copied += n
            if copied == size:
                return
    shutil.copyfile(source, target)


def remove_stale_temp_files(directory: Path) -> int:
    """Delete leftovers of writes that were killed before their rename."""
    removed = 0
    if directory.exists():
        for tmp in directory.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def private_tree(root: Path) -> None:
    """Make ``root`` and everything below it owner-only: directories 0700, files 0600 (a repair for directories
    that other writers, or an older version, created with the default modes)."""
    if not root.is_dir():
        return
    for directory, subdirs, files in os.walk(root):
        for name, mode in [(directory, 0o700)] + [(os.path.join(directory, f), 0o600) for f in files]:
            with contextlib.suppress(FileNotFoundError):  # a temporary file renamed away meanwhile
                if os.lstat(name).st_mode & 0o777 != mode:
                    os.chmod(name, mode)
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]


def private_dir(path: Path, root: Path | None = None) -> Path:
    """Create ``path`` (and its parents) owner-only (0700); with ``root``, every directory from ``root`` down to
    ``path`` is made owner-only too, including ones an earlier version created with looser modes."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = path
    while True:
        os.chmod(current, 0o700)
        if root is None or current == root or current.parent == current or root not in current.parents:
            break
        current = current.parent
    return path
