"""Step 11: DEL and CHECK. Fill in the TODOs, then `cnilab exercise check 11`.

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
        """The seed's DEL, in Python: `ip -n $NS link del $CNI_IFNAME`, then free the IP.

        TODO: it works once, while the pod exists. Make it work when the attachment is
        already gone (a second DEL) and when the pod's namespace is gone, without
        leaking the address: undo ADD from the node's side, never from inside the pod.
        Touch nothing that is not this attachment's (the pod may have another interface).
        """
        conf = load_json(args.stdin_data, "network config")
        with iproute_in(args.netns) as (pod, _fd):
            eth = pod.link_lookup(ifname=args.ifname)
            pod.link("del", index=eth[0])  # deleting one end of a veth deletes the pair
        delegate_del(conf["ipam"]["type"], args.stdin_data)

    def check(self, args: CmdArgs) -> None:
        """Is the pod still as ADD left it? prevResult is what ADD answered."""
        # TODO 1: read prevResult from the config; without one, CHECK cannot say anything.
        # TODO 2: find, in prevResult, the pod's interface this CHECK is about (not the
        #         host end, and not another interface the pod may have).
        # TODO 3: compare it with the kernel, inside the pod: the link is there, and every
        #         address prevResult put on it is on it, with its prefix.
        # TODO 4: the IPAM plugin must still hold the address for this pod.
        # Anything missing or different: raise a CNIError saying what.


if __name__ == "__main__":
    sys.exit(main(Plugin()))
