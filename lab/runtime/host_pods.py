"""Pods on a real node: `cnilab node pod add|del`, for hosts with no container runtime.

A Vagrant VM made a node by `cnilab node init` + `cnilab install` has no kubelet; this
does the CNI part of what containerd would do for a pod there: a network namespace,
the first config of the node's conf dir run through libcni's shape, the result cached
where libcni keeps it (/var/lib/cni/results), and DEL from that cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.cluster.plan import validate_pod_name
from lab.cni.config import NetworkConfigList
from lab.cni.invoke import REFERENCE_BIN
from lab.kernel.netns import NETNS_RUN_DIR, create_netns, delete_netns, set_loopback_up
from lab.runtime import cache
from lab.runtime.confs import select_network
from lab.runtime.libcni import CNIConfig, RuntimeConf

CACHE_DIR = "/var/lib/cni"  # libcni's default
PREFIX = "cnilab-"
IFNAME = "eth0"


class HostPodError(RuntimeError):
    pass


@dataclass(frozen=True)
class HostRuntime:
    bin_dir: str
    conf_dir: str
    cache_dir: str = CACHE_DIR
    node_netns: str | None = None  # a namespace standing in for the host (tests)
    prefix: str = PREFIX

    @property
    def path(self) -> list[str]:
        return [self.bin_dir, *([str(REFERENCE_BIN)] if REFERENCE_BIN.is_dir() else [])]

    def cni(self) -> CNIConfig:
        return CNIConfig(self.path, self.cache_dir, node_netns=self.node_netns)

    def network(self) -> NetworkConfigList:
        return select_network(self.conf_dir, self.path)

    def runtime_conf(self, name: str) -> RuntimeConf:
        """kubelet's CNI_ARGS, and a container ID that DEL can derive from the name again."""
        args = [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", name)]
        netns = f"{NETNS_RUN_DIR}/{self.prefix}{name}"
        return RuntimeConf(f"{self.prefix}{name}", netns, IFNAME, args)

    def add(self, name: str) -> dict[str, Any]:
        """Make the pod's namespace and run ADD; on failure DEL (SPEC.md) and remove it."""
        validate_pod_name(name)
        net, rt = self.network(), self.runtime_conf(name)
        if Path(rt.netns).exists():
            raise HostPodError(f"pod {name!r} exists (namespace {rt.netns}); delete it first")
        create_netns(Path(rt.netns).name)
        try:
            set_loopback_up(rt.netns)
            return self.cni().add_network_list(net, rt)
        except BaseException:
            try:
                self.cni().del_network_list(net, rt)
            finally:
                delete_netns(Path(rt.netns).name)
            raise

    def delete(self, name: str) -> bool:
        """DEL with the cached result, then remove the namespace; False when there was no pod."""
        validate_pod_name(name)
        net, rt = self.network(), self.runtime_conf(name)
        known = cache.load(self.cache_dir, net.name, rt.container_id, rt.ifname) is not None
        if known or Path(rt.netns).exists():
            self.cni().del_network_list(net, rt)
        return delete_netns(Path(rt.netns).name) or known
