"""The Debian mirror apt already uses on this host: debootstrap reaches the same one."""

from __future__ import annotations

import re
from pathlib import Path

SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
FALLBACK = "http://deb.debian.org/debian"
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")


class MirrorError(ValueError):
    """No usable Debian mirror in apt's configuration."""


def _candidates(text: str) -> list[str]:
    """URLs of `deb` sources for the main archive, one-line and deb822 forms alike."""
    urls: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        one_line = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if one_line:
            urls.append(one_line.group(2))
        elif line.lower().startswith("uris:"):
            urls.extend(line.split(":", 1)[1].split())
    return [u.rstrip("/") for u in urls if u.rstrip("/").endswith("/debian")]


def debian_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The first main-archive URL apt is configured with (checked), else deb.debian.org."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files.extend(sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources")))
        elif source.is_file():
            files.append(source)
    for file in files:
        for url in _candidates(file.read_text(errors="replace")):
            if not _URL.match(url):
                raise MirrorError(f"{file}: {url!r} is not a plain http(s) mirror URL")
            return url
    return FALLBACK
