"""Pods of the lab: a namespace per pod, attached by running the node's CNI chain.

This is the part of a container runtime (containerd's CRI plugin) that matters for
CNI: make the pod's network namespace, pick the node's network config, run the
plugins with a fresh container ID and kubelet's CNI_ARGS, remember the attachment,
and undo it all on delete. A failed ADD is followed by DEL (SPEC.md) and the new
namespace is removed: nothing half-made stays behind, but the journal keeps the call.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lab.cluster.plan import Plan, PlanError, is_pod_name, validate_pod_name
from lab.cni.config import NetworkConfigList
from lab.cni.errors import CNIError
from lab.cni.invoke import JournalingExec, RawExec
from lab.kernel.netns import create_netns, delete_netns, list_netns, set_loopback_up
from lab.runtime.confs import select_network
from lab.runtime.journal import Journal
from lab.runtime.libcni import CNIConfig, RuntimeConf
from lab.runtime.student import StudentPluginError, student_bin_dir

IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
POD_NAMESPACE = "default"


class PodError(RuntimeError):
    """A clear, user-facing failure (bad name, unknown node, a plugin that failed)."""


class DemoHook(Protocol):
    """Slow motion with step events (lab.live.demo.DemoSession): the `demo` capability
    arg of a pod's ADD, which names the socket the plugin reports its steps to."""

    def capability(
        self, pod: str, node: str, node_netns: str, pod_netns: str
    ) -> dict[str, Any]: ...


DEMO_TIMEOUT = 3600.0  # a call in slow motion waits for people: far beyond CNIConfig's


@dataclass
class Attachment:
    ifname: str
    network: str
    plugin_file: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    extra_path: list[str] = field(default_factory=list)  # CNI bin dirs before the lab's


@dataclass
class Pod:
    name: str
    node: str
    container_id: str
    netns: str
    created: float
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    def addresses(self) -> list[str]:
        return [ip["address"] for a in self.attachments for ip in a.result.get("ips", [])]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pod:
        d = dict(d)
        d["attachments"] = [Attachment(**a) for a in d.get("attachments", [])]
        return cls(**d)


@dataclass(frozen=True)
class PortMapping:
    """A hostPort, passed to plugins that declare the portMappings capability (portmap)."""

    hostPort: int  # the spec's spelling
    containerPort: int
    protocol: str = "tcp"

    @classmethod
    def parse(cls, text: str) -> PortMapping:
        """ "8080:80" or "5353:53/udp"."""
        ports, _, proto = text.partition("/")
        host, sep, container = ports.partition(":")
        try:
            mapping = cls(int(host), int(container), proto or "tcp")
        except ValueError:
            raise PodError(f"invalid port mapping {text!r}: use HOST:CONTAINER[/tcp|udp]") from None
        if (
            not sep
            or mapping.protocol not in ("tcp", "udp", "sctp")
            or not all(1 <= p <= 65535 for p in (mapping.hostPort, mapping.containerPort))
        ):
            raise PodError(f"invalid port mapping {text!r}: use HOST:CONTAINER[/tcp|udp]")
        return mapping


def validate_ifname(ifname: str) -> str:
    if not IFNAME_RE.match(ifname):
        raise PodError(f"invalid interface name {ifname!r}: 1-15 letters, digits, '_', '.', '-'")
    return ifname


class Runtime:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.journal = Journal(plan.journal)

    # -- records ---------------------------------------------------------------------
    def _record_path(self, name: str) -> Path:
        """Where a pod's record is: only for a valid pod name (no path ever gets here)."""
        try:
            validate_pod_name(name)
        except PlanError as e:
            raise PodError(str(e)) from None
        return Path(self.plan.pods_dir) / f"{name}.json"

    def get(self, name: str) -> Pod | None:
        """The pod named `name`, or None; PodError if `name` cannot be a pod's name."""
        path = self._record_path(name)
        try:
            return Pod.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as e:
            raise PodError(f"the record of pod {name!r} is damaged: {path}") from e

    def _save(self, pod: Pod) -> None:
        path = self._record_path(pod.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(pod.to_dict(), indent=2))
        os.replace(tmp, path)

    def list(self) -> list[Pod]:
        folder = Path(self.plan.pods_dir)
        names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        return [pod for name in names if is_pod_name(name) and (pod := self.get(name))]

    # -- CNI -------------------------------------------------------------------------
    def cni(self, node_name: str, plugin_file: str = "", extra_path: list[str] = ()) -> CNIConfig:
        """`extra_path`: more CNI bin dirs, searched before the lab's (a chained plugin's)."""
        node = self.plan.node(node_name)
        path = [*extra_path, self.plan.bin_dir]
        if plugin_file:
            path.insert(0, str(student_bin_dir(self.plan, plugin_file)))
        journaled = JournalingExec(RawExec(), self.journal.sink(node_name))
        return CNIConfig(path, node.cache_dir, node_netns=node.netns_path, exec=journaled)

    def _runtime_conf(
        self,
        pod: Pod,
        ifname: str,
        demo_delay: float = 0.0,
        ports: list[PortMapping] = (),
        demo: DemoHook | None = None,
    ) -> RuntimeConf:
        args = [
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", POD_NAMESPACE),
            ("K8S_POD_NAME", pod.name),
            ("K8S_POD_INFRA_CONTAINER_ID", pod.container_id),
        ]
        caps: dict[str, Any] = {"demo": {"delay": demo_delay}} if demo_delay else {}
        if demo is not None:
            node_netns = self.plan.node(pod.node).netns
            caps["demo"] = demo.capability(pod.name, pod.node, node_netns, pod.netns)
        if ports:
            caps["portMappings"] = [asdict(p) for p in ports]
        return RuntimeConf(pod.container_id, pod.netns_path, ifname, args, caps)

    # -- lifecycle -------------------------------------------------------------------
    def add(
        self,
        name: str,
        node: str | None = None,
        ifname: str = "eth0",
        plugin_file: str = "",
        demo_delay: float = 0.0,
        network: str = "",
        ports: list[PortMapping] = (),
        extra_path: list[str] = (),
        demo: DemoHook | None = None,
    ) -> Pod:
        """Create a pod (or, when it exists, attach one more interface to it)."""
        try:
            validate_pod_name(name)
            validate_ifname(ifname)
            existing = self.get(name)
            node = node or (existing.node if existing else self.plan.nodes[0].name)
            self.plan.node(node)
        except PlanError as e:
            raise PodError(str(e)) from e
        if existing is not None:
            if node != existing.node:
                raise PodError(f"pod {name!r} runs on {existing.node}, not {node}")
            if any(a.ifname == ifname for a in existing.attachments):
                raise PodError(f"pod {name!r} already has {ifname}; pick another --ifname")
            pod = existing
        else:
            netns = self.plan.pod_netns(name)
            if netns in list_netns():
                raise PodError(f"namespace {netns} already exists (left over?): `cnilab down`")
            pod = Pod(name, node, secrets.token_hex(32), netns, round(time.time(), 3))
            create_netns(netns)
            set_loopback_up(pod.netns_path)
        try:
            self._attach(
                pod,
                ifname,
                plugin_file,
                network,
                self._runtime_conf(pod, ifname, demo_delay, ports, demo),
                list(extra_path),
                DEMO_TIMEOUT if demo is not None else None,
            )
        except BaseException:
            if existing is None:
                delete_netns(pod.netns)
            raise
        self._save(pod)
        return pod

    def _network(
        self,
        pod: Pod,
        plugin_file: str,
        network: str = "",
        new: bool = False,
        extra_path: list[str] = (),
    ) -> tuple[CNIConfig, NetworkConfigList]:
        """The network of an attachment; for a new one, the first the pod is not on yet."""
        skip = frozenset(a.network for a in pod.attachments) if new else frozenset()
        try:
            cni = self.cni(pod.node, plugin_file, extra_path)
            conf_dir = self.plan.node(pod.node).conf_dir
            return cni, select_network(conf_dir, cni.path, network, skip)
        except (CNIError, StudentPluginError) as e:
            raise PodError(f"node {pod.node} cannot run CNI: {e}") from e

    def _attach(
        self,
        pod: Pod,
        ifname: str,
        plugin_file: str,
        network: str,
        rt: RuntimeConf,
        extra_path: list[str],
        timeout: float | None = None,
    ) -> None:
        cni, net = self._network(pod, plugin_file, network, new=True, extra_path=extra_path)
        if timeout is not None:
            cni.timeout = timeout
        try:
            result = cni.add_network_list(net, rt)
        except CNIError as e:
            with contextlib.suppress(CNIError):  # best effort; the journal keeps what it said
                cni.del_network_list(net, rt)
            raise PodError(f"ADD of {pod.name}/{ifname} on {pod.node} failed: {e}") from e
        pod.attachments.append(Attachment(ifname, net.name, plugin_file, result, extra_path))

    def delete(self, name: str) -> Pod:
        """DEL every attachment (reverse order), then remove the namespace and the record.

        If a plugin's DEL fails the pod stays, so the call can be fixed and repeated.
        """
        pod = self.get(name)
        if pod is None:
            raise PodError(f"no pod named {name!r}")
        for att in reversed(list(pod.attachments)):
            cni, net = self._network(pod, att.plugin_file, att.network, extra_path=att.extra_path)
            try:
                cni.del_network_list(net, self._runtime_conf(pod, att.ifname))
            except CNIError as e:
                self._save(pod)
                raise PodError(f"DEL of {name}/{att.ifname} failed: {e}") from e
            pod.attachments.remove(att)
        delete_netns(pod.netns)
        self._record_path(name).unlink(missing_ok=True)
        return pod

    def check(self, name: str) -> list[str]:
        pod = self.get(name)
        if pod is None:
            raise PodError(f"no pod named {name!r}")
        checked = []
        for att in pod.attachments:
            cni, net = self._network(pod, att.plugin_file, att.network, extra_path=att.extra_path)
            try:
                cni.check_network_list(net, self._runtime_conf(pod, att.ifname))
            except CNIError as e:
                raise PodError(f"CHECK of {name}/{att.ifname} failed: {e}") from e
            checked.append(att.ifname)
        return checked
