"""Step 14: CNI 1.1. Fill in the TODOs, then `cnilab exercise check 14`.

GC removes what the runtime no longer knows, STATUS says whether an ADD could work now,
and every runtime gets its answer in the version it asked for.

Built on cnilab's CNI library: `skel` negotiates the version and writes `add`'s Result
in it, `delegate_*`/`exec_plugin` run the IPAM plugin, `lab.kernel` does the links.
ADD and DEL are steps 6 and 11's, made compact, with one addition: ADD labels the host
veth (its alias) with the attachment, so GC can find it without the runtime's help.
"""

from __future__ import annotations

import hashlib
import os
import sys
from ipaddress import ip_network
from typing import Any

from pyroute2 import IPRoute

from lab.cni.config import load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.invoke import delegate_add, delegate_del, exec_plugin
from lab.cni.result import Interface, Result, Route
from lab.cni.skel import CmdArgs, main
from lab.kernel import addrs, links
from lab.kernel.netns import iproute_in

# The config versions we answer: skel refuses others (code 1) and converts our Result.
# TODO 1: only the newest? Runtimes with older configs still call plugins (flannel's
#         conflist says "0.3.1"). List every version our Result can be written in.
SUPPORTED_VERSIONS = ("1.0.0", "1.1.0")
LABEL = "cnilab-student"  # a host veth's alias: "<LABEL> <network> <containerID> <ifname>"
DEFAULT = ip_network("0.0.0.0/0")


def host_veth_name(container_id: str, ifname: str) -> str:
    """One per attachment (a pod may have eth0 and eth1), at most 15 characters."""
    return "veth" + hashlib.sha256(f"{container_id}/{ifname}".encode()).hexdigest()[:11]


def label(network: str, container_id: str, ifname: str) -> str:
    return f"{LABEL} {network} {container_id} {ifname}"


def delegate(command: str, conf: dict[str, Any], args: CmdArgs) -> None:
    """Run the IPAM plugin for GC or STATUS, as delegate_del does for DEL."""
    exec_plugin(conf["ipam"]["type"], args.stdin_data, {**os.environ, "CNI_COMMAND": command})


class Plugin:
    def add(self, args: CmdArgs) -> Result:
        """Step 6's ADD; the bridge comes from the config and the host veth is labelled."""
        conf = load_json(args.stdin_data, "network config")
        result = delegate_add(conf["ipam"]["type"], args.stdin_data)
        ip = result.ips[0]
        host_name = host_veth_name(args.container_id, args.ifname)
        tag = label(conf["name"], args.container_id, args.ifname)
        with IPRoute() as host, iproute_in(args.netns) as (pod, pod_fd):
            bridge = links.ensure_bridge(host, conf.get("bridge", "cni0"))
            links.create_veth_into(host, host_name, args.ifname, pod_fd, alias=tag)
            links.attach_to_bridge(host, links.link_by_name(host, host_name), bridge)
            eth = links.link_by_name(pod, args.ifname)
            addrs.add_address(pod, eth.index, ip.address)
            pod.link("set", index=eth.index, state="up")
            if conf.get("isDefaultGateway", True):  # one default route per pod: eth0's
                addrs.add_route(pod, DEFAULT, ip.gateway, eth.index)
        result.interfaces = [
            Interface(name=host_name),
            Interface(name=args.ifname, mac=eth.mac, sandbox=args.netns),
        ]
        ip.interface = 1
        result.routes = (
            [Route(dst=DEFAULT, gw=ip.gateway)] if conf.get("isDefaultGateway", True) else []
        )
        return result  # not JSON: skel writes it in the config's version

    def delete(self, args: CmdArgs) -> None:
        """Step 11's DEL: from the node's side, and already gone is fine."""
        conf = load_json(args.stdin_data, "network config")
        with IPRoute() as host:
            links.delete_link(host, host_veth_name(args.container_id, args.ifname))
        delegate_del(conf["ipam"]["type"], args.stdin_data)

    # CHECK is step 11's; left out to keep this file about 1.1.

    def gc(self, args: CmdArgs) -> None:
        """Remove every attachment of this network that the runtime no longer lists."""
        conf = load_json(args.stdin_data, "network config")
        # TODO 3: what to keep: the attachments the runtime still lists in this config.
        #         An attachment is a container AND an interface: a pod may have eth0 and eth1.
        # TODO 4: the host veths to delete: ours (ADD labelled them), of this network only,
        #         and not kept. Another network's, another plugin's, an unlabelled link:
        #         never touch them.
        # TODO 5: the addresses: the IPAM plugin has its own GC.

    def status(self, args: CmdArgs) -> None:
        """Could an ADD succeed now? The IPAM knows its pool and its store."""
        conf = load_json(args.stdin_data, "network config")
        # TODO 2: ask the IPAM plugin. When it says no, answer the runtime "not available".


if __name__ == "__main__":
    sys.exit(main(Plugin(), supported=SUPPORTED_VERSIONS))
