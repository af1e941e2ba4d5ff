"""Step 11: DEL and CHECK. Undo ADD from the node's side; compare the pod with prevResult.

Built on cnilab's CNI library: `skel` reads the environment and stdin and prints the
answer, `delegate_del`/`delegate_check` run the IPAM plugin named in the
config (through CNI_PATH), `PluginConf` reads prevResult. ADD is step 6's solution.
"""

from __future__ import annotations

import sys

from pyroute2 import IPRoute

from lab.cni.config import PluginConf, load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.invoke import delegate_check, delegate_del
from lab.cni.skel import CmdArgs, main
from lab.exercises.kit import reference
from lab.kernel import addrs, links
from lab.kernel.netns import iproute_in

# Step 6's reference ADD: this file adds only DEL and CHECK on top of it.
Add = reference("add")
host_veth_name = reference("add", "host_veth_name")


class Plugin(Add):
    def delete(self, args: CmdArgs) -> None:
        """Undo ADD without entering the pod: its namespace may already be gone.

        Everything DEL needs is on the node: the host veth, named from the container ID,
        and the address, reserved for (container ID, ifname). Already gone is success.
        """
        conf = load_json(args.stdin_data, "network config")
        # 1. the host end of the veth; deleting one end deletes the pair (and the pod's eth0)
        with IPRoute() as host:
            links.delete_link(host, host_veth_name(args))  # False when it was already gone
        # 2. the address: the IPAM releases what (container ID, ifname) holds, if anything
        delegate_del(conf["ipam"]["type"], args.stdin_data)

    def check(self, args: CmdArgs) -> None:
        """Is the pod still as ADD left it? prevResult is what ADD answered."""
        conf = PluginConf.from_dict(load_json(args.stdin_data, "network config"))
        prev = conf.prev_result
        if prev is None:
            raise CNIError(ErrorCode.INVALID_CONFIG, "CHECK needs a prevResult")
        # 1. the pod's interface in prevResult: named CNI_IFNAME, inside a sandbox
        index = next(
            (i for i, itf in enumerate(prev.interfaces) if itf.name == args.ifname and itf.sandbox),
            None,
        )
        if index is None:
            raise CNIError(ErrorCode.INVALID_CONFIG, f"prevResult has no {args.ifname}")
        # 2. the kernel's view: the link in the pod, and its addresses
        with iproute_in(args.netns) as (pod, _fd):
            try:
                link = links.link_by_name(pod, args.ifname)
            except links.LinkNotFound:
                raise CNIError(ErrorCode.INTERNAL, f"{args.ifname} is missing in the pod") from None
            have = addrs.addresses(pod, link.index)
        # 3. every address prevResult put on that interface is still there
        for ip in prev.ips:
            if ip.interface == index and ip.address not in have:
                raise CNIError(ErrorCode.INTERNAL, f"{ip.address} is missing on {args.ifname}")
        # 4. and the IPAM still holds it for this pod
        delegate_check(conf.ipam["type"], args.stdin_data)


if __name__ == "__main__":
    sys.exit(main(Plugin()))
