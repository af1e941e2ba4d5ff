"""pycni: the reference bridge plugin of cnilab. Each command reads as named steps."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from typing import TextIO

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Result
from lab.cni.skel import CmdArgs, Environment
from lab.cni.skel import main as skel_main
from lab.kernel import addrs, links, masquerade
from lab.kernel.links import LinkNotFound
from lab.kernel.netns import NetnsNotFound
from lab.kernel.rtnl import Rtnl, rtnl_in
from lab.pycni import narration, steps
from lab.pycni.chain import extend_prev_result
from lab.pycni.conf import BridgeConf, load_bridge_conf
from lab.pycni.ipam.config import TYPE as OWN_IPAM
from lab.pycni.ipam.config import load_ipam_conf
from lab.pycni.ipam.plugin import valid_attachments
from lab.pycni.ipam_exec import ipam_add, ipam_check, ipam_del, ipam_gc, ipam_status
from lab.pycni.naming import ALIAS_PREFIX, attachment_tag, host_veth_name, veth_alias

log = logging.getLogger("pycni")
ABOUT = "pycni: the bridge plugin of cnilab (CNI spec 0.3.0 - 1.1.0)"


def start_logging(conf: BridgeConf, args: CmdArgs) -> None:
    """Log to the configured file; a log that cannot be opened must not fail the call.

    A daemon worker keeps the file open from one call to the next when it is the same
    (opening it and configuring logging anew took a tenth of a warm ADD)."""
    fmt = logging.Formatter(
        f"%(asctime)s pid=%(process)d {args.command} {args.container_id[:12]}: %(message)s"
    )
    root = logging.getLogger()
    kept = root.handlers[0] if len(root.handlers) == 1 else None
    if isinstance(kept, logging.FileHandler) and _still_open(kept, conf.log_file):
        kept.setFormatter(fmt)
        return
    try:
        os.makedirs(os.path.dirname(conf.log_file), exist_ok=True)
        handler: logging.Handler = logging.FileHandler(conf.log_file)
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(fmt)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def _still_open(handler: logging.FileHandler, path: str) -> bool:
    """`handler` writes to the file at `path` now (not one since removed or rotated)."""
    if handler.baseFilename != os.path.abspath(path) or handler.stream is None:
        return False
    try:
        now, open_ = os.stat(path), os.fstat(handler.stream.fileno())
    except (OSError, ValueError):
        return False
    return (now.st_dev, now.st_ino) == (open_.st_dev, open_.st_ino)


def _setup(args: CmdArgs) -> BridgeConf:
    conf = load_bridge_conf(args.stdin_data)
    start_logging(conf, args)
    return conf


def _on_failure(undo: ExitStack, fn: Callable[..., object], *args: object) -> None:
    """Register an undo; one that fails is logged and never hides the error that caused it."""

    def best_effort() -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("undo %s failed", getattr(fn, "__name__", fn))

    undo.callback(best_effort)


@contextmanager
def pod_netns(netns: str) -> Iterator[tuple[Rtnl, int]]:
    """CNI_NETNS as a netlink socket; a path that is no namespace is code 3, not a crash."""
    with ExitStack() as stack:
        try:
            pair = stack.enter_context(rtnl_in(netns))
        except NetnsNotFound as e:  # strerror: the message without "[Errno 2]"
            raise CNIError(ErrorCode.UNKNOWN_CONTAINER, e.strerror or str(e)) from e
        except (OSError, ValueError) as e:  # ENAMETOOLONG, ENOTDIR, EACCES...
            raise CNIError(
                ErrorCode.UNKNOWN_CONTAINER, f"cannot open network namespace {netns!r}", str(e)
            ) from e
        yield pair


def cmd_add(args: CmdArgs) -> Result:
    conf = _setup(args)
    if conf.base.ipam["type"] == OWN_IPAM:  # a bad IPAM config fails before the kernel is touched
        load_ipam_conf(conf.raw)
    tag = attachment_tag(conf.network, args.container_id, args.ifname)
    names = (host_veth_name(args.container_id, args.ifname), args.ifname)
    with (
        Rtnl.open() as host,
        pod_netns(args.netns) as (pod, pod_fd),
        closing(steps.open_demo(conf, args)) as demo,
        ExitStack() as undo,
    ):
        steps.check_ifname_free(pod, args.ifname, args.netns)
        bridge, created = steps.ensure_bridge(host, conf)
        if created:
            _on_failure(undo, steps.remove_unused_bridge, host, bridge)
        steps.report(demo, narration.bridge_ready(bridge.name, created, conf.mtu))

        # registered first: a delegate may reserve and still fail; its DEL is idempotent
        _on_failure(undo, ipam_del, conf.raw, args.stdin_data, args)
        result = ipam_add(conf.raw, args.stdin_data, args)
        cidrs = [str(i.address) for i in result.ips]
        steps.report(demo, narration.ip_reserved(str(conf.base.ipam["type"]), cidrs))

        steps.check_host_veth_free(host, names[0])
        _on_failure(undo, links.delete_link, host, names[0])  # the peer goes with it
        host_veth, pod_veth = steps.setup_veth(host, pod, pod_fd, conf, names, veth_alias(tag))
        steps.report(
            demo, narration.veth_created(host_veth.name, pod_veth.name, args.netns, conf.mtu)
        )

        steps.attach_veth(host, host_veth, bridge, conf)
        steps.report(demo, narration.veth_attached(host_veth.name, bridge.name, conf.hairpin_mode))

        for ipc in result.ips:
            ipc.interface = steps.POD_INTERFACE
        result.routes = steps.calc_routes(result, conf)
        steps.configure_iface(pod, pod_veth, result)
        steps.report(
            demo, narration.pod_addressed(args.netns, pod_veth.name, result.ips, result.routes)
        )

        if conf.is_gateway:
            steps.ensure_gateway_addr(host, bridge, result.ips)
            steps.enable_forwarding(result.ips)
            steps.report(demo, narration.gateway_ready(bridge.name, result.ips))
        if conf.ip_masq:
            _on_failure(undo, masquerade.remove_masquerade, tag)  # also a half-made batch
            steps.setup_masquerade(tag, result.ips)
            steps.report(
                demo,
                narration.masquerade_added(tag, result.ips, masquerade.TABLE, masquerade.CHAIN),
            )

        result.interfaces = steps.build_interfaces(bridge, host_veth, pod_veth, args.netns)
        if result.dns.is_empty():
            result.dns = conf.base.dns
        undo.pop_all()
    log.info("ADD done: %s", ", ".join(str(i.address) for i in result.ips))
    return extend_prev_result(conf.base.prev_result, result)


def cmd_del(args: CmdArgs) -> None:
    """Best effort and repeatable: the netns, the veth or the reservation may be gone."""
    conf = _setup(args)
    with Rtnl.open() as host, steps.failing_to("delete the host veth"):
        gone = not links.delete_link(host, host_veth_name(args.container_id, args.ifname))
    ipam_del(conf.raw, args.stdin_data, args)
    if conf.ip_masq:
        with steps.failing_to("remove the masquerade rule"):
            masquerade.remove_masquerade(
                attachment_tag(conf.network, args.container_id, args.ifname)
            )
    log.info("DEL done%s", " (veth was already gone)" if gone else "")


def cmd_check(args: CmdArgs) -> None:
    conf = _setup(args)
    prev = conf.base.prev_result
    if prev is None:
        raise CNIError(ErrorCode.INVALID_CONFIG, "CHECK needs a prevResult")
    with Rtnl.open() as host, pod_netns(args.netns) as (pod, _fd):
        check_pod_iface(pod, prev, args)
        check_host_veth(host, conf, args)
    ipam_check(conf.raw, args.stdin_data, args)


def check_pod_iface(pod: Rtnl, prev: Result, args: CmdArgs) -> None:
    index = next(
        (i for i, itf in enumerate(prev.interfaces) if itf.name == args.ifname and itf.sandbox),
        None,
    )
    if index is None:
        raise CNIError(ErrorCode.INVALID_CONFIG, f"prevResult has no interface {args.ifname!r}")
    try:
        link = links.link_by_name(pod, args.ifname)
    except LinkNotFound:
        raise CNIError(ErrorCode.INTERNAL, f"interface {args.ifname!r} is missing") from None
    want_mac = prev.interfaces[index].mac
    if want_mac and link.mac.lower() != want_mac.lower():
        raise CNIError(ErrorCode.INTERNAL, f"{args.ifname} has MAC {link.mac}, expected {want_mac}")
    have = addrs.addresses(pod, link.index)
    for ipc in prev.ips:
        if ipc.interface == index and ipc.address not in have:
            raise CNIError(ErrorCode.INTERNAL, f"address {ipc.address} is missing on {args.ifname}")
    for route in prev.routes:
        table = addrs.routes(pod, route.dst.version)
        if not any(
            dst == route.dst and (route.gw is None or gw == route.gw) for dst, gw, _ in table
        ):
            raise CNIError(ErrorCode.INTERNAL, f"route to {route.dst} is missing in the pod")


def check_host_veth(host: Rtnl, conf: BridgeConf, args: CmdArgs) -> None:
    name = host_veth_name(args.container_id, args.ifname)
    try:
        veth = links.link_by_name(host, name)
        bridge = links.link_by_name(host, conf.bridge)
    except LinkNotFound as e:
        raise CNIError(ErrorCode.INTERNAL, f"host link {e} is missing") from None
    if veth.master != bridge.index:
        raise CNIError(ErrorCode.INTERNAL, f"{name} is not attached to bridge {conf.bridge}")


def cmd_gc(args: CmdArgs) -> None:
    """Remove every attachment of this network not in cni.dev/valid-attachments."""
    conf = _setup(args)
    keep = {attachment_tag(conf.network, cid, ifn) for cid, ifn in valid_attachments(conf.raw)}
    mine = veth_alias(f"{conf.network} ")
    with Rtnl.open() as host, steps.failing_to("garbage-collect host veths"):
        for link in links.list_links(host):
            if link.alias.startswith(mine) and link.alias.removeprefix(ALIAS_PREFIX) not in keep:
                log.info("GC deletes %s (%s)", link.name, link.alias)
                links.delete_link(host, link.name)
    if conf.ip_masq:
        with steps.failing_to("garbage-collect masquerade rules"):
            masquerade.remove_masquerade_except(conf.network, keep)
    ipam_gc(conf.raw, args.stdin_data, args)


def cmd_status(args: CmdArgs) -> None:
    conf = _setup(args)
    ipam_status(conf.raw, args.stdin_data, args)


class Pycni:
    """The five commands, as skel's PluginFuncs."""

    add = staticmethod(cmd_add)
    check = staticmethod(cmd_check)
    delete = staticmethod(cmd_del)
    gc = staticmethod(cmd_gc)
    status = staticmethod(cmd_status)


def run(
    stdin: bytes,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """One CNI call in this process (the `pycni` executable, or a `pycni daemon` worker)."""
    env = Environment(
        environ=os.environ if environ is None else environ,
        stdin=io.BytesIO(stdin),
        stdout=stdout or sys.stdout,
        stderr=stderr or sys.stderr,
    )
    return skel_main(Pycni(), about=ABOUT, env=env)
