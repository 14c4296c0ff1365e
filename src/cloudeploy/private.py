"""Private files: everything cloudeploy keeps under ``$CLOUDEPLOY_HOME`` is its user's alone.

Captured requests hold inputs and predictions, the state file names every
endpoint, logs hold request ids: folders are 0700 and files 0600 whatever the
caller's umask. Modes are set explicitly (``mkdir(mode=...)`` is masked by the
umask, so each folder is chmod-ed after it is made), never by changing the umask
of a process that is not ours; the processes cloudeploy starts (gateways,
replicas, batch workers) get :data:`CHILD_UMASK`, so what they write is private
from the start.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
#: The umask of every process cloudeploy starts.
CHILD_UMASK = 0o077


def private_dir(path: Path | str) -> Path:
    """Make ``path`` and its missing parents 0700; an existing ``path`` becomes 0700 too.

    Parents that already existed keep their mode (they may be the user's own).
    """
    path = Path(path)
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True, mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open` that creates files 0600 (and fixes an existing file's mode)."""
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def private_file(path: Path | str) -> Path:
    """Create ``path`` empty if missing; either way its mode becomes 0600."""
    fd = private_opener(str(path), os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    return Path(path)


def restrict_tree(root: Path | str) -> None:
    """Folders under ``root`` (itself included) 0700, files 0600; symlinks untouched."""
    root = Path(root)
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, FILE_MODE)
