"""Step 3: call CNI plugins by hand, the way a runtime does. Fill in the TODOs.

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
    # TODO: the five CNI_* variables, each carrying the value of its argument
    return {}


def bridge_config(network: str, bridge: str, subnet: str, data_dir: str) -> dict:
    """A network config for the reference `bridge` plugin with `host-local` IPAM."""
    # TODO: the spec's version (1.0.0), the network's name, the plugin's type, the bridge
    # to create, the two options that make the bridge the pods' gateway and their
    # default route, and an ipam section for host-local with the subnet and the data dir
    return {}


def call(plugin: str, env: dict, config: dict) -> tuple[int, dict]:
    """Run the plugin: env vars in, config on stdin; its exit code and its answer.

    The answer is JSON on stdout for a result and for an error alike; DEL prints nothing.
    """
    # TODO: run the plugin with exactly this environment and the config on stdin, and
    # read its answer from stdout, whether it succeeded or not
    return 1, {}


def main(command: str, netns_name: str) -> None:
    """By hand: the bridge plugin on a namespace of /run/netns, as the lesson shows."""
    env = cni_env(command, netns_name, f"/run/netns/{netns_name}", "eth0", PLUGINS)
    conf = bridge_config("try3", "try3br", "10.99.3.0/24", "/tmp/cnilab-try3-ipam")
    code, answer = call(f"{PLUGINS}/bridge", env, conf)
    print(f"exit {code}", json.dumps(answer, indent=2), sep="\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
