"""Step 4: an IPAM plugin (reference solution): the seed's allocator, fixed.

The store is one text file per network, one line per reserved address:
    10.244.0.2 <container id> <ifname>
Every read-modify-write of it happens under an exclusive lock (flock).
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_interface, ip_network
from pathlib import Path

from lab.cni.config import load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import IPConfig, Result
from lab.cni.skel import CmdArgs, main


def store_file(conf: dict) -> Path:
    folder = Path(conf["ipam"]["dataDir"]) / conf["name"]
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "reserved"


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """One ADD or DEL at a time: without it two pods can get the same address."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class IPAM:
    def add(self, args: CmdArgs) -> Result:
        conf = load_json(args.stdin_data, "network config")
        subnet = ip_network(conf["ipam"]["subnet"])
        gateway = subnet.network_address + 1
        path = store_file(conf)
        with locked(path):
            lines = read_lines(path)
            taken = {line.split()[0] for line in lines}
            # never the network (.0), the gateway (.1) or the broadcast address (last)
            for n in range(2, subnet.num_addresses - 1):
                candidate = subnet.network_address + n
                if str(candidate) not in taken:
                    break
            else:
                raise CNIError(ErrorCode.TRY_AGAIN_LATER, f"no free address in {subnet}")
            lines.append(f"{candidate} {args.container_id} {args.ifname}")
            path.write_text("\n".join(lines) + "\n")
        address = ip_interface(f"{candidate}/{subnet.prefixlen}")
        return Result(ips=[IPConfig(address=address, gateway=gateway)])

    def delete(self, args: CmdArgs) -> None:
        """Release exactly what this (container, ifname) holds: compare fields, not prefixes."""
        conf = load_json(args.stdin_data, "network config")
        path = store_file(conf)
        with locked(path):
            lines = read_lines(path)
            kept = [line for line in lines if line.split()[1:] != [args.container_id, args.ifname]]
            path.write_text("\n".join(kept) + "\n" if kept else "")


if __name__ == "__main__":
    sys.exit(main(IPAM()))
