"""Step 13: install your plugin on a node, as a CNI's installer does. Fill in the
TODOs, then `cnilab exercise check 13`.

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


def network_config(node: dict[str, Any], plugin_type: str) -> dict[str, Any]:
    """The node's network: one plugin, found by `plugin_type`, handing out node's pod CIDR.

    TODO: a network configuration list (cniVersion, name, plugins). Its one plugin
    takes the same keys as the lab's own 10-pycni.conflist, but it is yours that the
    runtime must run, and the addresses it hands out are this node's.
    """
    raise NotImplementedError


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

    TODO: refuse a plugin type that is not a plain file name (TYPE_RE) before writing
    anything; an executable the runtime can find and start; a config file the node's
    runtime picks before the configs already there, which stay as they are.
    """
    raise NotImplementedError
