"""Directories in places other users share (/tmp, /dev/shm, a cache): trusted only if this user's.

numba unpickles the index of its kernel cache, and the JVM maps a class-data archive: whoever
can write into either directory runs code in every later run that uses it. A directory another
local user made first, under the name a run will use, would hand them that. So a run uses such a
directory only if it is this user's own and no one else may write there, and creates it 0700.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat

log = logging.getLogger(__name__)


def private_dir(path: str) -> bool:
    """Whether ``path`` is a directory only this user can change: made with mode 0700 if missing
    (its parents as usual), accepted if it exists, is not a symbolic link, is owned by this user
    and is not writable by group or others; refused (False, logged with the reason) otherwise."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)  # the umask may only take permissions away
        st = os.lstat(path)
    except OSError as e:
        log.debug("cannot use %s: %s", path, e)
        return False
    why = _untrusted(st)
    if why:
        log.warning("not using %s: %s (remove it, or make it yours with mode 0700)", path, why)
        return False
    return True


def _untrusted(st: os.stat_result) -> str:
    """Why a directory with this status cannot be trusted, or "" if it can."""
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory" + (" but a symbolic link" if stat.S_ISLNK(st.st_mode) else "")
    if st.st_uid != os.getuid():
        return f"it belongs to user id {st.st_uid}, not to this user ({os.getuid()})"
    if st.st_mode & 0o022:
        return f"others may write there (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def owned_by_me(path: str) -> bool:
    """Whether ``path`` itself (not what a symbolic link points to) belongs to this user."""
    try:
        return os.lstat(path).st_uid == os.getuid()
    except OSError:
        return False
