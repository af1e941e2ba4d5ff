"""Step 7: several attachments on one node (reference solution).

Step 6's ADD, made safe for a node shared by many pods, each with one or more
interfaces: the host end's name is derived from the attachment, (container ID,
interface), so it is unique, fits 15 characters and is found again by DEL; the bridge
and the default route follow the network's config, as the bridge plugin's do.

Built on cnilab's CNI library: `skel` reads the environment and stdin and prints the
answer, `delegate_add` runs the IPAM plugin named in the config (through CNI_PATH),
`Result` is the spec's result. This file holds only the lesson: the kernel steps.
"""

from __future__ import annotations

import hashlib
import sys
from ipaddress import ip_network

from pyroute2 import IPRoute

from lab.cni.config import load_json
from lab.cni.invoke import delegate_add, delegate_del
from lab.cni.result import Interface, Result, Route
from lab.cni.skel import CmdArgs, main
from lab.kernel.netns import iproute_in

BRIDGE = "cni0"  # when the config names none


def host_veth_name(args: CmdArgs) -> str:
    """One name per attachment, the same at ADD and DEL, 15 characters at most."""
    digest = hashlib.sha256(f"{args.container_id}/{args.ifname}".encode()).hexdigest()
    return "veth" + digest[:11]


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
            # 3. the host end joins the bridge the network's config names, and comes up
            bridge = host.link_lookup(ifname=conf.get("bridge", BRIDGE))[0]
            veth = host.link_lookup(ifname=host_name)[0]
            host.link("set", index=veth, master=bridge, state="up")
            # 4. the pod's end: its address, up, and (if the config says so) the default route
            eth = pod.link_lookup(ifname=args.ifname)[0]
            pod.addr(
                "add",
                index=eth,
                address=str(ip.address.ip),
                prefixlen=ip.address.network.prefixlen,
            )
            pod.link("set", index=eth, state="up")
            if conf.get("isDefaultGateway"):
                pod.route("add", dst="0.0.0.0", dst_len=0, gateway=str(ip.gateway))
            mac = pod.link("get", index=eth)[0].get("address")
        # 5. the result: what was made, for the runtime (and the next plugin in a chain)
        result.interfaces = [
            Interface(name=host_name),
            Interface(name=args.ifname, mac=mac, sandbox=args.netns),
        ]
        ip.interface = 1  # interfaces[1] is the pod's end
        if conf.get("isDefaultGateway"):
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
