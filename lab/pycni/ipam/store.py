"""Where reservations live: host-local's on-disk layout, under an exclusive lock.

<dataDir>/<network>/
    lock                      flock'd for every read-modify-write
    10.244.0.5                one file per reserved IP: "<containerID>\\r\\n<ifname>"
    last_reserved_ip.0        where round-robin resumes, per range set
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from typing import Protocol

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import IPAddress

Owner = tuple[str, str]  # (container ID, ifname)
LINE_BREAK = "\r\n"
LAST_RESERVED = "last_reserved_ip."
MAX_OWNER = 4096  # bytes read of a reservation file: a container ID and an ifname


class Store(Protocol):
    def reserve(self, owner: Owner, ip: IPAddress, range_id: int) -> bool: ...
    def last_reserved(self, range_id: int) -> IPAddress | None: ...
    def release(self, ip: IPAddress) -> None: ...
    def release_owner(self, owner: Owner) -> list[IPAddress]: ...
    def owned_by(self, owner: Owner) -> list[IPAddress]: ...
    def reservations(self) -> dict[IPAddress, Owner]: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...


def _parse_owner(text: str) -> Owner:
    """host-local writes "id\\r\\nifname"; very old files hold the container ID alone."""
    lines = text.strip().splitlines()
    return (lines[0].strip() if lines else ""), (lines[1].strip() if len(lines) > 1 else "")


class DiskStore:
    """A Store on disk; usable only inside `with store:` (the lock)."""

    def __init__(self, data_dir: str, network: str) -> None:
        self.dir = os.path.join(data_dir, network)
        self._lock_fd: int | None = None

    def __enter__(self) -> DiskStore:
        try:
            os.makedirs(self.dir, mode=0o755, exist_ok=True)
            fd = os.open(
                os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        except OSError as e:
            raise CNIError(
                ErrorCode.IO_FAILURE, f"cannot open IPAM store {self.dir!r}: {e.strerror}"
            ) from e
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def _path(self, ip: IPAddress) -> str:
        return os.path.join(self.dir, str(ip))

    def reserve(self, owner: Owner, ip: IPAddress, range_id: int) -> bool:
        try:
            fd = os.open(self._path(ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", newline="") as f:
            f.write(owner[0] + LINE_BREAK + owner[1])
        self._write_last_reserved(range_id, ip)
        return True

    def _write_last_reserved(self, range_id: int, ip: IPAddress) -> None:
        """Overwrite in place, then cut to length: never truncate to zero first. ext4 flushes
        a file truncated to zero and rewritten when it is closed (auto_da_alloc), which
        made every ADD wait 1-4 ms for the disk here."""
        data = str(ip).encode()
        path = os.path.join(self.dir, f"{LAST_RESERVED}{range_id}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def last_reserved(self, range_id: int) -> IPAddress | None:
        try:
            with open(os.path.join(self.dir, f"{LAST_RESERVED}{range_id}")) as f:
                return ipaddress.ip_address(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def release(self, ip: IPAddress) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(ip))

    def _files(self) -> Iterator[tuple[str, bytes]]:
        """(name, content) of every file here: one directory fd, opens relative to it (an
        ADD and a DEL read them all, as host-local does, to find an owner's)."""
        try:
            dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            for name in os.listdir(dir_fd):
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
                except FileNotFoundError:
                    continue
                try:
                    yield name, os.read(fd, MAX_OWNER)
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)

    def reservations(self) -> dict[IPAddress, Owner]:
        found: dict[IPAddress, Owner] = {}
        for name, data in self._files():
            try:
                ip = ipaddress.ip_address(name)
            except ValueError:
                continue  # lock, last_reserved_ip.N
            found[ip] = _parse_owner(data.decode(errors="replace"))
        return found

    def owned_by(self, owner: Owner) -> list[IPAddress]:
        """Compared as bytes first: parsing every file was most of an ADD's IPAM time."""
        exact = (owner[0] + LINE_BREAK + owner[1]).encode()
        mine = []
        for name, data in self._files():
            if data != exact and _parse_owner(data.decode(errors="replace")) != owner:
                continue
            try:
                mine.append(ipaddress.ip_address(name))
            except ValueError:
                continue  # lock, last_reserved_ip.N
        # IPv4 and IPv6 addresses do not compare: a dual-stack owner holds both
        return sorted(mine, key=lambda ip: (ip.version, int(ip)))

    def release_owner(self, owner: Owner) -> list[IPAddress]:
        """Release exactly what (container ID, ifname) holds: no pattern, no prefix match."""
        mine = self.owned_by(owner)
        for ip in mine:
            self.release(ip)
        return mine
