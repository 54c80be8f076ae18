"""The store's folder on disk is its user's alone: folders 0700, files 0600 (the SQLite file
and its -wal/-shm, anything else the desk keeps there), repaired at start when an older
version, a restore or an admin's `cp` left them readable by others."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("mailticket")

FOLDER_MODE, FILE_MODE = 0o700, 0o600


def make_private(root: Path) -> list[tuple[Path, int, int]]:
    """Take group and other access away from `root` and everything under it (symbolic links
    are not followed); returns what changed as (path, old mode, new mode), logged once."""
    if not root.is_dir() or root.is_symlink():
        return []
    changed: list[tuple[Path, int, int]] = []
    failed: list[str] = []
    for folder, folders, files in os.walk(root):
        for path, wanted in (
            (Path(folder), FOLDER_MODE),
            *((Path(folder, name), FILE_MODE) for name in files),
        ):
            try:
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
                    continue
                path.chmod(wanted)
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror}")
                continue
            changed.append((path, stat.S_IMODE(mode), wanted))
        folders[:] = [f for f in folders if not Path(folder, f).is_symlink()]
    if changed:
        path, old, new = changed[0]
        log.warning(
            "store %s was readable by others: modes repaired on %d entries (%s %04o -> %04o%s)",
            root,
            len(changed),
            path.name or path,
            old,
            new,
            ", ..." if len(changed) > 1 else "",
        )
    for failure in failed:
        log.error("store %s: could not make private: %s", root, failure)
    return changed
