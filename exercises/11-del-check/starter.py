"""Step 9: DEL and CHECK. Fill in the TODOs, then `cnilab exercise check 9`.

Built on cnilab's CNI library: `skel` reads the environment and stdin and prints the
answer, `delegate_del`/`delegate_check` run the IPAM plugin named in the
config (through CNI_PATH), `PluginConf` reads prevResult. ADD is step 5's solution.
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

# Step 5's reference ADD: this file adds only DEL and CHECK on top of it.
Step5 = reference("add")
host_veth_name = reference("add", "host_veth_name")


class Plugin(Step5):
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
