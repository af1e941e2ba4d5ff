"""Step 6: ADD. Wire a pod into its node. Fill in the TODOs, then `cnilab exercise check 6`.

Built on cnilab's CNI library: `skel` reads the environment and stdin and prints the
answer, `delegate_add` runs the IPAM plugin named in the config (through CNI_PATH),
`Result` is the spec's result. This file holds only the lesson: the kernel steps.
"""

from __future__ import annotations

import sys
from ipaddress import ip_network

from pyroute2 import IPRoute

from lab.cni.config import load_json
from lab.cni.invoke import delegate_add, delegate_del
from lab.cni.result import Interface, Result, Route
from lab.cni.skel import CmdArgs, main
from lab.kernel.netns import iproute_in

BRIDGE = "cni0"


def host_veth_name(args: CmdArgs) -> str:
    """Unique per pod and at most 15 characters (the kernel's limit)."""
    return "veth" + args.container_id[:11]


class Plugin:
    def add(self, args: CmdArgs) -> Result:
        conf = load_json(args.stdin_data, "network config")
        # 1. an address for the pod, from the IPAM plugin the config names
        result = delegate_add(conf["ipam"]["type"], args.stdin_data)
        ip = result.ips[0]
        host_name = host_veth_name(args)
        with IPRoute() as host, iproute_in(args.netns) as (pod, pod_fd):
            # 2. TODO: the veth pair: the host end `host_name` in the node, the pod's end
            #    named args.ifname and born inside the pod's namespace (never moved there).
            # 3. TODO: the host end becomes a port of the bridge BRIDGE, and is up.
            # 4. TODO: in the pod: the IPAM result's address with its prefix on the pod's
            #    end, that link up, then a default route via the IPAM result's gateway.
            mac = ""  # TODO: the MAC of the pod's end, read back from the kernel
        # 5. the result: what was made, for the runtime (and the next plugin in a chain)
        result.interfaces = [
            Interface(name=host_name),
            Interface(name=args.ifname, mac=mac, sandbox=args.netns),
        ]
        ip.interface = 0  # TODO: the index in result.interfaces of the pod's end
        result.routes = [Route(dst=ip_network("0.0.0.0/0"), gw=ip.gateway)]
        return result

    def delete(self, args: CmdArgs) -> None:
        """Given (step 11 is about DEL): remove the veth, release the address."""
        conf = load_json(args.stdin_data, "network config")
        with IPRoute() as host:
            found = host.link_lookup(ifname=host_veth_name(args))
            if found:
                host.link("del", index=found[0])
        delegate_del(conf["ipam"]["type"], args.stdin_data)


if __name__ == "__main__":
    sys.exit(main(Plugin()))
