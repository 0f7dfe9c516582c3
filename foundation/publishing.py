"""Atomic publishing of artifact folders and JSON files, and the checksums their manifests
record.

A folder is written into a temporary sibling and put in place in one rename, so a reader sees
either the old complete folder or the new complete one, never a half-written one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import glob
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path


def write_json(path: Path, value: dict, indent: int = 2) -> None:
    """Write JSON through a temporary file and a rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(value, indent=indent, default=str) + "\n")
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed version of each named distribution, for a manifest."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# A folder being born (``.NAME.new-*``) younger than this is never taken for a leftover: its
# publisher may be between creating it and locking it.
STAGING_GRACE_SECONDS = 60.0


def _hold(folder: Path) -> int:
    """Open `folder` and take an exclusive lock on it; the open descriptor holds the lock
    until it is closed, which the kernel does even when the process is killed."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def clean_stale_staging(target: str | Path) -> list[Path]:
    """Remove what interrupted publishes of `target` left beside it: staging folders
    (``.NAME.tmp-*``), previous versions moved aside (``.NAME.old-*``) and folders killed
    while being born (``.NAME.new-*``, after :data:`STAGING_GRACE_SECONDS`). A live publisher
    holds a lock on each of its folders from birth (a folder is locked before it is renamed
    to ``.tmp-``), so only folders whose publisher died (killed, crashed, power cut) are
    removed; another publisher's work is never touched.

    Returns
    -------
    list of Path
        The folders removed.
    """
    target = Path(target).absolute()
    removed = []
    stem = f".{target.name}."
    for leftover in sorted(target.parent.glob(f"{glob.escape(stem)}*-*")):
        kind = leftover.name[len(stem):][:4]
        try:
            if kind not in ("tmp-", "old-", "new-") or leftover.is_symlink() \
                    or not leftover.is_dir() or (kind == "new-" and time.time()
                                                 - leftover.lstat().st_mtime
                                                 < STAGING_GRACE_SECONDS):
                continue
            fd = _hold(leftover)
        except OSError:
            continue  # held by a live publisher, gone already, or not ours to lock
        try:
            shutil.rmtree(leftover)
            removed.append(leftover)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextmanager
def publishing(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; when the block ends without error, put it
    in place of `target` in one atomic rename (an atomic exchange when `target` exists).
    On error the temporary folder is removed and `target` is untouched. Staging folders of
    earlier publishes of `target` that were interrupted are removed first
    (:func:`clean_stale_staging`); this publish holds a lock on its own until it ends."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(target)
    token = uuid.uuid4().hex[:8]
    born, staging = (target.parent / f".{target.name}.{kind}-{token}" for kind in ("new", "tmp"))
    born.mkdir()
    lock = _hold(born)  # locked before it is a .tmp-: no cleaner ever sees it unlocked
    os.rename(born, staging)
    try:
        yield staging
        for child in staging.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(staging)
        if not target.exists():
            os.rename(staging, target)
        elif _exchange(staging, target):
            shutil.rmtree(staging)  # now holds the previous artifact
        else:
            # No atomic exchange here: move the old one aside first, keeping the gap tiny.
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            held = _hold(target)  # so that no cleaner removes it while this one does
            try:
                os.rename(target, old)
                os.rename(staging, target)
                shutil.rmtree(old)
            finally:
                os.close(held)
        _fsync_dir(target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
