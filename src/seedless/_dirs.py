"""Where seedless keeps its per-user files: one helper over platformdirs.

- cache (results of replayable requests): ``$SEEDLESS_CACHE_DIR``, else the user cache dir
  (``~/.cache/seedless``, ``~/Library/Caches/seedless``, ``%LOCALAPPDATA%\\seedless\\Cache``);
- config (``models.toml``): the user config dir (``~/.config/seedless``,
  ``~/Library/Application Support/seedless``, ``%APPDATA%\\seedless``);
- data (the ledger of single calls): ``$SEEDLESS_HOME``, else the user data dir
  (``~/.local/share/seedless``, ``~/Library/Application Support/seedless``,
  ``%LOCALAPPDATA%\\seedless``).

platformdirs follows each platform's rules (the XDG variables on Linux included), so seedless
does not repeat them; the ``SEEDLESS_*`` variables override, read from ``environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

__all__ = ["user_cache_dir", "user_config_dir", "user_data_dir"]

_APP = "seedless"


def _explicit(environ: Mapping[str, str] | None, name: str) -> Path | None:
    value = (os.environ if environ is None else environ).get(name)
    return Path(value).expanduser() if value else None


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The result cache's folder: ``$SEEDLESS_CACHE_DIR``, else the user cache dir."""
    explicit = _explicit(environ, "SEEDLESS_CACHE_DIR")
    return explicit or platformdirs.user_cache_path(_APP, appauthor=False)


def user_config_dir() -> Path:
    """The folder of the user's ``models.toml`` (roaming on Windows, as settings are)."""
    return platformdirs.user_config_path(_APP, appauthor=False, roaming=True)


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder of seedless's own records (the calls ledger): ``$SEEDLESS_HOME``, else the
    user data dir."""
    explicit = _explicit(environ, "SEEDLESS_HOME")
    return explicit or platformdirs.user_data_path(_APP, appauthor=False)
