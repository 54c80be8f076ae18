"""What the desk keeps on disk is its user's alone: folders 0700, files 0600 (the store's
folder with the SQLite file, its -wal/-shm and anything else kept there; an OAuth token
cache), repaired at start when an older version, a restore or an admin's `cp` left them
readable by others."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("mailticket")

FOLDER_MODE, FILE_MODE = 0o700, 0o600


def make_private(root: Path) -> list[tuple[Path, int, int]]:
    """Take group and other access away from the file or folder `root` and everything under
    it (symbolic links are not followed); returns what changed as (path, old mode, new mode),
    logged once."""
    if root.is_symlink() or not root.exists():
        return []
    changed: list[tuple[Path, int, int]] = []
    failed: list[str] = []
    walk = os.walk(root) if root.is_dir() else [(str(root.parent), [], [root.name])]
    for folder, folders, files in walk:
        entries = [(Path(folder, name), FILE_MODE) for name in files]
        if root.is_dir():
            entries.insert(0, (Path(folder), FOLDER_MODE))
        for path, wanted in entries:
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
            "%s was readable by others: modes repaired on %d entries (%s %04o -> %04o%s)",
            root,
            len(changed),
            path.name or path,
            old,
            new,
            ", ..." if len(changed) > 1 else "",
        )
    for failure in failed:
        log.error("%s: could not make private: %s", root, failure)
    return changed
