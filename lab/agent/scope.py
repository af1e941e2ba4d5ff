"""What one node agent serves: its node's namespace and the pods it owns, and how they
are named once several nodes' graphs are put together.

Which namespaces:
- the node's own: the host's namespace (a real node), or `netns` (a namespace standing
  in for a host, as the tests and several agents on one machine do);
- its pods, among the names under /run/netns: those listed in `pods`, plus those
  starting with `pods_prefix`; with neither given, every one (on a real node every
  named namespace belongs to that host). The node's own is never a pod.

Names: every namespace is published as "<node>/<netns>" (the host's own as
"<node>/host"), so ids stay unique when the app merges nodes that both have a "host",
or pods that happen to share a namespace name. The graph's ids follow ("ns:node1/host",
"if:node1/cnilab-web:eth0"), and so do the trace's hops. A pod is labelled by its
namespace name without `pods_prefix` (without "cnilab-", the prefix `cnilab node pod
add` uses, when no prefix is given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.inspect.namespaces import HOST_PATH
from lab.kernel.netns import list_netns

HOST_LOCAL = "host"  # what the host's own namespace is called, as in lab.inspect
POD_PREFIX = "cnilab-"  # `cnilab node pod add NAME` makes cnilab-NAME
NODE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62})$")
NETNS_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class ScopeError(ValueError):
    pass


def check_node_name(name: str) -> str:
    if not NODE_NAME_RE.match(name):
        raise ScopeError(
            f"invalid node name {name!r}: lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class NodeScope:
    node: str  # node1
    netns: str | None = None  # None: the host's own namespace
    pods_prefix: str = ""
    pods: tuple[str, ...] = ()
    node_ip: str = ""  # the node's address for `trace ... node1`; guessed when empty

    def __post_init__(self) -> None:
        check_node_name(self.node)
        for name in (self.netns, *self.pods):
            if name is not None and (not NETNS_NAME_RE.match(name) or name in (".", "..")):
                raise ScopeError(f"invalid namespace name {name!r}")

    @property
    def node_netns(self) -> str:
        """The local name of the node's own namespace."""
        return self.netns or HOST_LOCAL

    def is_pod(self, name: str) -> bool:
        if name == self.netns or (self.netns is None and name == HOST_LOCAL):
            return False
        if name in self.pods:
            return True
        if self.pods and not self.pods_prefix:
            return False
        return name.startswith(self.pods_prefix)

    def selects(self, name: str) -> bool:
        """For the inspector: a name under /run/netns this agent serves."""
        return name == self.netns or self.is_pod(name)

    def pods_now(self) -> list[str]:
        return [name for name in list_netns() if self.is_pod(name)]

    def namespaces_now(self) -> list[str]:
        """Local names of the node's namespace and its pods, as they are now."""
        return [self.node_netns, *self.pods_now()]

    # Names: local (as on this host) and qualified (as in the merged graph)

    def qualify(self, local: str) -> str:
        return f"{self.node}/{local}"

    def local_of(self, qualified: str) -> str:
        """The local name of a qualified (or already local) name; ScopeError if not served."""
        local = qualified.removeprefix(f"{self.node}/")
        if "/" in local or not (local == self.node_netns or self.is_pod(local)):
            raise ScopeError(f"{qualified!r} is not a namespace of {self.node}")
        return local

    def where(self, local: str) -> str:
        """What lab.trace takes for a namespace: its name, or the host's path."""
        return HOST_PATH if self.netns is None and local == HOST_LOCAL else local

    def local_of_where(self, where: str) -> str:
        return HOST_LOCAL if where == HOST_PATH else where

    def pod_label(self, local: str) -> str:
        return local.removeprefix(self.pods_prefix or POD_PREFIX) or local

    def label(self, local: str) -> str:
        """How a trace names the namespace."""
        return self.node if local == self.node_netns else f"pod {self.pod_label(local)}"
