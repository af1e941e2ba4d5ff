"""Step 12: a chained plugin. Fill in the TODOs, then `cnilab exercise check 12`.

It runs after pycni in a network's plugin list, sets the MTU of the pod's interface
from its config key "mtu", and passes prevResult on.

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
        # 1. TODO: find the pod's interface as the plugin before us reported it: the one
        #    this call is about (CNI_IFNAME), inside the pod, not the host end or the bridge.
        # 2. TODO: give that interface, inside the pod's namespace, the MTU of our config.
        # 3. TODO: what does a plugin in a chain answer? The runtime caches only the
        #    last plugin's answer, and kubelet learns the pod's IP from it. If you changed
        #    something the result describes, the answer should say so.
        return Result()

    def delete(self, args: CmdArgs) -> None:
        """Nothing to undo: the MTU goes with the interface when pycni deletes the veth."""


if __name__ == "__main__":
    sys.exit(main(MTU()))
