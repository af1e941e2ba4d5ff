"""Step 3: call CNI plugins by hand, the way a runtime does (reference solution).

Try your functions by hand inside node1 (see the lesson):
    cnilab exec node1 -- python3 ~/cnilab-work/03-by-hand/by_hand.py ADD cnilab-try3
"""

from __future__ import annotations

import json
import subprocess
import sys

PLUGINS = "/usr/lib/cni"  # Debian's reference plugins: bridge, host-local, ...


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
    """Run the plugin: env vars in, config on stdin; its exit code and its answer.

    The answer is JSON on stdout for a result and for an error alike; DEL prints nothing.
    """
    done = subprocess.run(
        [plugin], env=env, input=json.dumps(config).encode(), capture_output=True, check=False
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def main(command: str, netns_name: str) -> None:
    """By hand: the bridge plugin on a namespace of /run/netns, as the lesson shows."""
    env = cni_env(command, netns_name, f"/run/netns/{netns_name}", "eth0", PLUGINS)
    conf = bridge_config("try3", "try3br", "10.99.3.0/24", "/tmp/cnilab-try3-ipam")
    code, answer = call(f"{PLUGINS}/bridge", env, conf)
    print(f"exit {code}", json.dumps(answer, indent=2), sep="\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
