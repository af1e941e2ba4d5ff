"""Step 4: an IPAM plugin. This is the seed's bash allocator, ported as it was: it
works for one pod at a time, and has three bugs the check will find. Fix them.

The store is one text file per network, one line per reserved address:
    10.244.0.2 <container id> <ifname>
"""

from __future__ import annotations

import sys
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


class IPAM:
    def add(self, args: CmdArgs) -> Result:
        conf = load_json(args.stdin_data, "network config")
        subnet = ip_network(conf["ipam"]["subnet"])
        gateway = subnet.network_address + 1
        path = store_file(conf)
        lines = read_lines(path)
        taken = {line.split()[0] for line in lines}
        # the bash plugin walks every address after the gateway...
        for n in range(2, subnet.num_addresses):
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
        conf = load_json(args.stdin_data, "network config")
        path = store_file(conf)
        lines = read_lines(path)
        mine = [
            line.split()[0]
            for line in lines
            if line.split()[1:] == [args.container_id, args.ifname]
        ]
        for ip in mine:
            # ...and releases like `sed -i "/^$ip/d"`
            lines = [line for line in lines if not line.startswith(ip)]
        path.write_text("\n".join(lines) + "\n" if lines else "")


if __name__ == "__main__":
    sys.exit(main(IPAM()))
