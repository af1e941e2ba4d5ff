"""The node's pycni network config: one definition for the embedded lab and real hosts.

It is what the seed writes by hand to /etc/cni/net.d/10-bash-cni-plugin.conf, with the
IPAM plugin named in `ipam` (delegated through CNI_PATH) and the demo capability.
"""

from __future__ import annotations

from typing import Any


def pycni_conflist(
    name: str,
    bridge: str,
    subnet: str,
    data_dir: str,
    log_file: str,
    *,
    default_gateway: bool = True,
    cni_version: str = "1.1.0",
) -> dict[str, Any]:
    return {
        "cniVersion": cni_version,
        "name": name,
        "plugins": [
            {
                "type": "pycni",
                "bridge": bridge,
                "isGateway": True,
                "isDefaultGateway": default_gateway,
                "logFile": log_file,
                "capabilities": {"demo": True},
                "ipam": {"type": "pycni-ipam", "subnet": subnet, "dataDir": data_dir},
            }
        ],
    }
