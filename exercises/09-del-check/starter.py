"""Step 9: DEL and CHECK. Fill in the TODOs, then `cnilab exercise check 9`.

Built on cnilab's CNI library: `skel` reads the environment and stdin and prints the
answer, `delegate_add`/`delegate_del`/`delegate_check` run the IPAM plugin named in the
config (through CNI_PATH), `PluginConf` reads prevResult. ADD is step 5's.
"""

from __future__ import annotations

import sys
from ipaddress import ip_network

from pyroute2 import IPRoute

from lab.cni.config import PluginConf, load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.invoke import delegate_add, delegate_check, delegate_del
from lab.cni.result import Interface, Result, Route
from lab.cni.skel import CmdArgs, main
from lab.kernel import addrs, links
from lab.kernel.netns import iproute_in

BRIDGE = "cni0"


def host_veth_name(args: CmdArgs) -> str:
    """Unique per pod and at most 15 characters (the kernel's limit)."""
    return "veth" + args.container_id[:11]


class Plugin:
    def add(self, args: CmdArgs) -> Result:
        """Step 5's ADD."""
        conf = load_json(args.stdin_data, "network config")
        result = delegate_add(conf["ipam"]["type"], args.stdin_data)
        ip = result.ips[0]
        host_name = host_veth_name(args)
        with IPRoute() as host, iproute_in(args.netns) as (pod, pod_fd):
            host.link(
                "add",
                ifname=host_name,
                kind="veth",
                peer={"ifname": args.ifname, "net_ns_fd": pod_fd},
            )
            bridge = host.link_lookup(ifname=BRIDGE)[0]
            veth = host.link_lookup(ifname=host_name)[0]
            host.link("set", index=veth, master=bridge, state="up")
            eth = pod.link_lookup(ifname=args.ifname)[0]
            pod.addr(
                "add",
                index=eth,
                address=str(ip.address.ip),
                prefixlen=ip.address.network.prefixlen,
            )
            pod.link("set", index=eth, state="up")
            pod.route("add", dst="0.0.0.0", dst_len=0, gateway=str(ip.gateway))
            mac = pod.link("get", index=eth)[0].get("address")
        result.interfaces = [
            Interface(name=host_name),
            Interface(name=args.ifname, mac=mac, sandbox=args.netns),
        ]
        ip.interface = 1
        result.routes = [Route(dst=ip_network("0.0.0.0/0"), gw=ip.gateway)]
        return result

    def delete(self, args: CmdArgs) -> None:
        """The seed's DEL, in Python: `ip -n $NS link del $CNI_IFNAME`, then free the IP.

        TODO: it works once, while the pod exists. Make it work when the attachment is
        already gone (a second DEL) and when the pod's namespace is gone, without
        leaking the address: undo ADD from the node's side, never from inside the pod.
        """
        conf = load_json(args.stdin_data, "network config")
        with iproute_in(args.netns) as (pod, _fd):
            eth = pod.link_lookup(ifname=args.ifname)
            pod.link("del", index=eth[0])  # deleting one end of a veth deletes the pair
        delegate_del(conf["ipam"]["type"], args.stdin_data)

    def check(self, args: CmdArgs) -> None:
        """Is the pod still as ADD left it? prevResult is what ADD answered."""
        # TODO 1: conf = PluginConf.from_dict(load_json(...)); prev = conf.prev_result
        #         (no prevResult: raise CNIError(ErrorCode.INVALID_CONFIG, ...))
        # TODO 2: find the index of the interface in prev.interfaces named args.ifname
        #         that has a sandbox
        # TODO 3: inside the pod (iproute_in(args.netns)): that link exists, and each
        #         address of prev.ips whose .interface is that index is on it
        #         (links.link_by_name, addrs.addresses)
        # TODO 4: anything missing: raise CNIError(ErrorCode.INTERNAL, "what is missing")


if __name__ == "__main__":
    sys.exit(main(Plugin()))
