"""Step 7: several attachments on one node. Step 6's ADD, with three TODOs.

A node holds many pods, and a pod may have several interfaces, on several networks
(its eth0 on cni0, an eth1 on the node-local `secondary` network's cni1). Fill in
the TODOs, then `cnilab exercise check 7`.

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
    """TODO: one name per attachment (a pod may have eth0 and eth1), 15 characters at
    most (the kernel's limit), and the same name again when DEL asks for it."""
    return "veth" + args.container_id[:11]


class Plugin:
    def add(self, args: CmdArgs) -> Result:
        conf = load_json(args.stdin_data, "network config")
        # 1. an address for the pod, from the IPAM plugin the config names
        result = delegate_add(conf["ipam"]["type"], args.stdin_data)
        ip = result.ips[0]
        host_name = host_veth_name(args)
        with IPRoute() as host, iproute_in(args.netns) as (pod, pod_fd):
            # 2. the veth pair: the pod's end is born inside the pod's namespace
            host.link(
                "add",
                ifname=host_name,
                kind="veth",
                peer={"ifname": args.ifname, "net_ns_fd": pod_fd},
            )
            # 3. the host end joins the bridge, and comes up
            # TODO: the bridge is the one the network's config names (cni0 if none)
            bridge = host.link_lookup(ifname=BRIDGE)[0]
            veth = host.link_lookup(ifname=host_name)[0]
            host.link("set", index=veth, master=bridge, state="up")
            # 4. the pod's end: its address, up, and the default route via the gateway
            eth = pod.link_lookup(ifname=args.ifname)[0]
            pod.addr(
                "add",
                index=eth,
                address=str(ip.address.ip),
                prefixlen=ip.address.network.prefixlen,
            )
            pod.link("set", index=eth, state="up")
            # TODO: a pod has one default route: only where the config asks for it
            pod.route("add", dst="0.0.0.0", dst_len=0, gateway=str(ip.gateway))
            mac = pod.link("get", index=eth)[0].get("address")
        # 5. the result: what was made, for the runtime (and the next plugin in a chain)
        result.interfaces = [
            Interface(name=host_name),
            Interface(name=args.ifname, mac=mac, sandbox=args.netns),
        ]
        ip.interface = 1  # interfaces[1] is the pod's end
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
