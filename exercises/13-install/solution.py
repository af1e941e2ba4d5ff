"""Step 13: install your plugin on a node, as a CNI's installer does (reference solution).

Flannel, Calico or kindnet ship an installer that copies the plugin's executable into
the node's CNI bin dir (/opt/cni/bin) and writes a network config into its conf dir
(/etc/cni/net.d). The runtime does the rest: it picks a config, finds the executable
named by its `type`, and runs it for every pod.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

CNI_VERSION = "1.1.0"
TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# The runtime takes the first valid file in lexical order: ours comes before the
# node's 10-pycni.conflist.
CONF_PREFIX = "05"


def network_config(node: dict[str, Any], plugin_type: str) -> dict[str, Any]:
    """The node's network: one plugin, found by `plugin_type`, handing out node's pod CIDR."""
    subnet = ipaddress.IPv4Network(node["pod_cidr"])
    return {
        "cniVersion": CNI_VERSION,
        "name": f"{plugin_type}-net",
        "plugins": [
            {
                "type": plugin_type,
                "bridge": "cni0",
                "isGateway": True,
                "isDefaultGateway": True,
                "ipam": {"type": "pycni-ipam", "subnet": str(subnet), "dataDir": node["ipam_dir"]},
            }
        ],
    }


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write beside it, then rename: a runtime never reads or runs half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install(
    plugin: str,
    plugin_type: str,
    node: dict[str, Any],
    bin_dir: str,
    conf_dir: str,
    python: str,
) -> str:
    """Install `plugin` (a Python file) as the executable `plugin_type` in `bin_dir`, run
    by `python`, and the node's network config in `conf_dir`; answer the config's path.

    `node` is {"name": "node2", "pod_cidr": "10.244.1.0/24", "ipam_dir": "..."}.
    """
    if not TYPE_RE.match(plugin_type):
        raise ValueError(f"plugin type {plugin_type!r} must be a plain file name")
    conf = network_config(node, plugin_type)  # checked before anything is written
    source = Path(plugin).read_bytes()
    write_atomically(Path(bin_dir) / plugin_type, b"#!" + python.encode() + b"\n" + source, 0o755)
    path = Path(conf_dir) / f"{CONF_PREFIX}-{plugin_type}.conflist"
    write_atomically(path, json.dumps(conf, indent=2).encode() + b"\n", 0o644)
    return str(path)
