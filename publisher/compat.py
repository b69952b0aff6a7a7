"""Making third-party libraries import where their packaging has aged."""

from __future__ import annotations

import sys
import types
from pathlib import Path


def import_twitter_text() -> None:
    """Import twitter-text-parser, which reads its emoji list with ``pkg_resources.resource_string``: setuptools 81
    removed ``pkg_resources``, and pipx environments have no setuptools at all. Only while it is imported, that one
    function is given from the module's own folder (quicker than the real ``pkg_resources``, which scans every
    installed package); whatever ``pkg_resources`` there was is then put back."""
    if "twitter_text" in sys.modules:
        return

    def resource_string(module: str, name: str) -> bytes:  # a file beside the module, as pkg_resources reads it
        origin = sys.modules[module].__file__
        assert origin is not None
        return Path(origin).with_name(name).read_bytes()

    shim = types.ModuleType("pkg_resources")
    shim.resource_string = resource_string  # type: ignore[attr-defined]
    previous = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = shim
    try:
        import twitter_text
        import twitter_text.regexp.emoji  # noqa: F401  (the module that needs it)
    finally:
        if previous is None:
            sys.modules.pop("pkg_resources", None)
        else:
            sys.modules["pkg_resources"] = previous
