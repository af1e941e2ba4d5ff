"""Step 3: call CNI plugins by hand, the way a runtime does (reference solution)."""

from __future__ import annotations

import json
import subprocess


def cni_env(command: str, container_id: str, netns: str, ifname: str, cni_path: str) -> dict:
    """The environment a runtime gives a plugin: all it knows about the call."""
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_PATH": cni_path,
    }


def bridge_config(network: str, bridge: str, subnet: str, data_dir: str) -> dict:
    """A network config for the reference `bridge` plugin with `host-local` IPAM."""
    return {
        "cniVersion": "1.0.0",
        "name": network,
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "isDefaultGateway": True,
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": data_dir},
    }


def call(plugin: str, env: dict, config: dict) -> tuple[int, dict]:
    """Run the plugin: env vars in, config on stdin, the answer (JSON) on stdout."""
    done = subprocess.run(
        [plugin], env=env, input=json.dumps(config).encode(), capture_output=True, check=False
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}
