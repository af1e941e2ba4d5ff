"""Step 3: call CNI plugins by hand, the way a runtime does. Fill in the TODOs."""

from __future__ import annotations

import json
import subprocess


def cni_env(command: str, container_id: str, netns: str, ifname: str, cni_path: str) -> dict:
    """The environment a runtime gives a plugin: all it knows about the call."""
    # TODO: the five CNI_* variables (CNI_COMMAND, ...); nothing else is needed
    return {}


def bridge_config(network: str, bridge: str, subnet: str, data_dir: str) -> dict:
    """A network config for the reference `bridge` plugin with `host-local` IPAM."""
    # TODO: cniVersion "1.0.0", the network's name, type "bridge", the bridge's name,
    # isGateway and isDefaultGateway true, and "ipam": host-local with subnet and dataDir
    return {}


def call(plugin: str, env: dict, config: dict) -> tuple[int, dict]:
    """Run the plugin: env vars in, config on stdin, the answer (JSON) on stdout."""
    # TODO: subprocess.run([plugin], env=..., input=..., capture_output=True)
    return 1, {}
