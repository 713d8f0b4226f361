"""Private files (个人数据文件权限): what holds personal data is readable by its owner only.

The store (the SQLite file and its ``-wal`` / ``-shm``), the layer files (GeoParquet, GeoPackage), the
importer's rejects and reports and anything else the product writes hold names, ID numbers, phones and
addresses. They are created ``0600`` and their folders ``0700``:

* the ``onemap`` command sets the process umask to :data:`PRIVATE_UMASK` (``0o077``) first thing, so
  every file and folder it creates is private whatever the shell's umask;
* the writers also set the modes explicitly (:func:`make_private`), as a umask does not change a file
  that already exists, and they may be used from Python without the command: the SQLite store on
  every connection, the demo builder and the importer on what they wrote;
* ``onemap up`` and ``onemap serve`` warn (:func:`exposure_warning`) when the data folder, or anything in
  it, is readable by the group or others; they do not change it (the operator may have meant it).

A database server's files (PostgreSQL) are the server's business (its data folder is ``0700``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

#: The process umask of the ``onemap`` command: no permission for the group or others.
PRIVATE_UMASK = 0o077
#: At most this many paths are named in a warning.
_NAMED = 5


def private_umask() -> int:
    """Set the process umask to refuse the group and others everything (keeping stricter bits).

    Returns
    -------
    int
        The umask before.
    """
    old = os.umask(PRIVATE_UMASK)
    os.umask(old | PRIVATE_UMASK)
    return old


def _walk(path: Path) -> Iterable[Path]:
    yield path
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                yield Path(root) / name


def make_private(*paths: str | os.PathLike, recursive: bool = False) -> None:
    """Take every permission of the group and others away (files become ``0600``, folders ``0700``);
    with ``recursive``, of everything inside a folder too.

    Missing paths, symbolic links and paths of another owner are left alone (``chmod`` of another
    owner's file fails; :func:`exposure_warning` still names it).
    """
    for p in paths:
        start = Path(p)
        for path in _walk(start) if recursive else (start,):
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
                try:  # the owner's bits stay as they are (a read-only file stays read-only)
                    path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)
                except OSError:
                    continue


def exposed(*paths: str | os.PathLike) -> list[Path]:
    """The paths (folders with everything inside them) that the group or others may read or enter."""
    found = []
    for p in paths:
        for path in _walk(Path(p)):
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                found.append(path)
    return found


def exposure_warning(*paths: str | os.PathLike) -> str | None:
    """A warning in Chinese and English naming what others may read, or None when all is private."""
    found = exposed(*paths)
    if not found:
        return None
    named = "\n".join(f"  {oct(stat.S_IMODE(p.lstat().st_mode))[2:]:>4} {p}" for p in found[:_NAMED])
    more = (
        f"\n  … 另有 {len(found) - _NAMED} 项 (and {len(found) - _NAMED} more)" if len(found) > _NAMED else ""
    )
    roots = " ".join(str(Path(p)) for p in paths)
    return (
        f"警告：数据文件含个人信息，但同组或其他用户可读 (warning: files holding personal data are readable "
        f"by the group or others):\n{named}{more}\n"
        f"请执行 (run) `chmod -R go-rwx {roots}` 收紧权限 (to make them readable by their owner only)."
    )
