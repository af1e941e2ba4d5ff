"""Step 12: a chained plugin. It runs after pycni in a network's plugin list, sets the
MTU of the pod's interface from its config key "mtu", and passes prevResult on.

Built on cnilab's CNI library: `skel` reads the environment and stdin and prints the
answer, `PluginConf` reads the config and its prevResult (a `Result`), `lab.kernel`
finds links. This file holds only the lesson: what a plugin in a chain does.
"""

from __future__ import annotations

import sys

from lab.cni.config import PluginConf, load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Result
from lab.cni.skel import CmdArgs, main
from lab.kernel import links
from lab.kernel.netns import iproute_in


def read_conf(args: CmdArgs) -> tuple[PluginConf, int]:
    """The config the runtime built for us: our own keys, plus the chain's prevResult."""
    conf = PluginConf.from_dict(load_json(args.stdin_data, "network config"))
    mtu = conf.raw.get("mtu")
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= 65535:
        raise CNIError(ErrorCode.INVALID_CONFIG, f'"mtu" must be 68 to 65535, got {mtu!r}')
    return conf, mtu


class MTU:
    def add(self, args: CmdArgs) -> Result:
        conf, mtu = read_conf(args)
        prev = conf.prev_result
        if prev is None:
            raise CNIError(
                ErrorCode.INVALID_CONFIG, "mtu must come after an interface plugin: no prevResult"
            )
        # 1. the pod's interface, as the plugin before us reported it
        iface = next((i for i in prev.interfaces if i.name == args.ifname and i.sandbox), None)
        if iface is None:
            raise CNIError(ErrorCode.INVALID_CONFIG, f"prevResult has no {args.ifname} in a pod")
        # 2. its MTU, set inside the pod's namespace
        with iproute_in(args.netns) as (pod, _fd):
            link = links.link_by_name(pod, args.ifname)
            pod.link("set", index=link.index, mtu=mtu)
        # 3. prevResult goes on (the runtime caches only the last plugin's answer),
        #    amended where we changed something, so that it stays true
        iface.mtu = mtu
        return prev

    def delete(self, args: CmdArgs) -> None:
        """Nothing to undo: the MTU goes with the interface when pycni deletes the veth."""


if __name__ == "__main__":
    sys.exit(main(MTU()))
