"""A runtime's side of CNI, shaped like libcni: run a network's chain of plugins.

ADD runs the chain in order, each plugin getting the previous result as prevResult,
and caches the final result; CHECK and DEL hand that cached result back; DEL runs
the chain in reverse. Each plugin is a separate executable found in CNI_PATH and run
inside the node's network namespace, with the real CNI_* environment and stdin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.cni.config import VALID_ATTACHMENTS, NetworkConfigList, build_plugin_config
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.invoke import Exec, RawExec, cni_env, decode_execution, plugin_argv
from lab.cni.result import Result
from lab.cni.version import at_least
from lab.runtime import cache


@dataclass(frozen=True)
class RuntimeConf:
    """The facts of one attachment (libcni's RuntimeConf)."""

    container_id: str
    netns: str
    ifname: str
    args: list[tuple[str, str]] = field(default_factory=list)
    capability_args: dict[str, Any] = field(default_factory=dict)

    @property
    def cni_args(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)


@dataclass
class CNIConfig:
    """libcni's CNIConfig: where plugins are, where results are cached, how they are run."""

    path: list[str]
    cache_dir: str
    node_netns: str | None = None  # run plugins inside this namespace (the node's)
    exec: Exec = field(default_factory=RawExec)  # a JournalingExec to journal, a fake to test
    timeout: float = 120.0

    def env(self, command: str, rt: RuntimeConf | None) -> dict[str, str]:
        """The environment of a call (libcni's c.args): no `rt` for VERSION, GC and STATUS."""
        if rt is None:
            return cni_env(command, self.path)
        return cni_env(
            command,
            self.path,
            container_id=rt.container_id,
            netns=rt.netns,
            ifname=rt.ifname,
            args=rt.cni_args,
        )

    def exec_plugin(
        self, plugin: dict[str, Any], conf: bytes, command: str, rt: RuntimeConf | None
    ) -> dict[str, Any] | None:
        binary = self.exec.find(str(plugin["type"]), self.path)
        argv = plugin_argv(binary, self.node_netns)
        ex = self.exec.run(argv, conf, self.env(command, rt), self.timeout)
        try:
            return decode_execution(ex)
        except CNIError as e:
            where = f"plugin type={plugin['type']!r} {command}"
            raise CNIError(e.code, f"{where}: {e.msg}", e.details) from e

    def add_network_list(self, net: NetworkConfigList, rt: RuntimeConf) -> dict[str, Any]:
        prev: dict[str, Any] | None = None
        for plugin in net.plugins:
            conf = build_plugin_config(plugin, net, net.cni_version, prev, rt.capability_args)
            out = self.exec_plugin(plugin, conf, "ADD", rt)
            if out is None:
                raise CNIError(
                    ErrorCode.DECODE_FAILURE, f"plugin type={plugin['type']!r} ADD printed nothing"
                )
            Result.from_dict(out, where=f"plugin {plugin['type']} ADD")  # garbage stops here
            prev = out
        assert prev is not None  # a list has at least one plugin
        cache.save(
            self.cache_dir,
            {
                "containerId": rt.container_id,
                "ifName": rt.ifname,
                "networkName": net.name,
                "netns": rt.netns,
                "cniArgs": rt.args,
                "capabilityArgs": rt.capability_args,
                "config": net.raw,
                "result": prev,
            },
        )
        return prev

    def cached(self, net: NetworkConfigList, rt: RuntimeConf) -> tuple[dict | None, dict]:
        """The cached result, and the capability args ADD had (portmap needs them on DEL)."""
        entry = cache.load(self.cache_dir, net.name, rt.container_id, rt.ifname) or {}
        return entry.get("result"), rt.capability_args or entry.get("capabilityArgs") or {}

    def check_network_list(self, net: NetworkConfigList, rt: RuntimeConf) -> None:
        if not at_least(net.cni_version, "0.4.0"):
            raise CNIError(
                ErrorCode.INCOMPATIBLE_VERSION, f"CHECK needs 0.4.0, network is {net.cni_version}"
            )
        if net.disable_check:
            return
        prev, caps = self.cached(net, rt)
        if prev is None:
            raise CNIError(
                ErrorCode.UNKNOWN_CONTAINER, f"no cached result for {rt.container_id}/{rt.ifname}"
            )
        for plugin in net.plugins:
            conf = build_plugin_config(plugin, net, net.cni_version, prev, caps)
            self.exec_plugin(plugin, conf, "CHECK", rt)

    def del_network_list(self, net: NetworkConfigList, rt: RuntimeConf) -> None:
        """Reverse order, with the cached result as prevResult (0.4.0 and later)."""
        prev, caps = self.cached(net, rt)
        if not at_least(net.cni_version, "0.4.0"):
            prev = None
        for plugin in reversed(net.plugins):
            conf = build_plugin_config(plugin, net, net.cni_version, prev, caps)
            self.exec_plugin(plugin, conf, "DEL", rt)
        cache.remove(self.cache_dir, net.name, rt.container_id, rt.ifname)

    def gc_network_list(
        self, net: NetworkConfigList, valid: list[tuple[str, str]]
    ) -> list[CNIError]:
        """GC (1.1.0): plugins learn which attachments are still valid; errors do not stop it."""
        if not at_least(net.cni_version, "1.1.0") or net.disable_gc:
            return []
        attachments = [{"containerID": cid, "ifname": ifname} for cid, ifname in valid]
        errors = []
        for plugin in net.plugins:
            extra = dict.fromkeys(VALID_ATTACHMENTS, attachments)
            conf = build_plugin_config({**plugin, **extra}, net, net.cni_version, None, None)
            try:
                self.exec_plugin(plugin, conf, "GC", None)
            except CNIError as e:
                errors.append(e)
        return errors

    def get_status(self, net: NetworkConfigList) -> None:
        if not at_least(net.cni_version, "1.1.0"):
            return
        for plugin in net.plugins:
            conf = build_plugin_config(plugin, net, net.cni_version, None, None)
            self.exec_plugin(plugin, conf, "STATUS", None)
