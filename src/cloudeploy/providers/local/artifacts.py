"""Content-addressed storage of model packages: ``artifacts/<digest>/``."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from cloudeploy.private import private_dir, restrict_tree


class ArtifactStore:
    """Packages stored once per digest. ``put`` is atomic: a crash leaves no half copy."""

    def __init__(self, root: Path) -> None:
        self.root = private_dir(root)

    def path(self, digest: str) -> Path:
        return self.root / digest

    def put(self, package_dir: Path, digest: str) -> Path:
        final = self.path(digest)
        if final.is_dir():
            return final
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        shutil.copytree(package_dir, staging)
        restrict_tree(staging)  # packages may hold baseline data: the user's alone
        try:
            staging.rename(final)
        except OSError:
            # Another process stored the same digest first: same bytes, keep theirs.
            shutil.rmtree(staging, ignore_errors=True)
            if not final.is_dir():
                raise
        return final

    def remove(self, digest: str) -> None:
        """Delete the stored package ``digest`` (no-op when absent); a crash leaves no half tree in place."""
        final = self.path(digest)
        if not final.is_dir():
            return
        doomed = self.root / f".tmp-{uuid.uuid4().hex}"
        final.rename(doomed)  # gone from its name at once; sweep_partial removes what a crash leaves
        shutil.rmtree(doomed, ignore_errors=True)

    def sweep_partial(self, older_than_s: float = 600.0) -> None:
        """Remove copies left behind by a process killed during ``put``.

        Only old ones: a younger one may belong to a ``put`` still running.
        """
        cutoff = time.time() - older_than_s
        for leftover in self.root.glob(".tmp-*"):
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
