"""The IPAM commands. pycni calls them in-process; `pycni-ipam` serves them to any plugin."""

from __future__ import annotations

import os
from typing import Any

from lab.cni.config import VALID_ATTACHMENTS, load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import IPAddress, IPConfig, Result
from lab.cni.skel import CmdArgs
from lab.pycni.ipam.allocator import allocate, find_range, has_free_address
from lab.pycni.ipam.config import IPAMConf, Range, load_ipam_conf
from lab.pycni.ipam.store import DiskStore, Owner


def _store(conf: IPAMConf) -> DiskStore:
    return DiskStore(conf.data_dir, conf.network)


def _held_in(range_set: list[Range], held: list[IPAddress]) -> IPConfig | None:
    for ip in held:
        r = find_range(range_set, ip)
        if r is not None:
            return IPConfig(address=r.prefixed(ip), gateway=r.gateway)
    return None


def ipam_add(conf: dict[str, Any], owner: Owner) -> Result:
    """One address per range set; an owner that already holds one gets it back (re-ADD)."""
    ipam = load_ipam_conf(conf)
    result = Result(routes=list(ipam.routes))
    with _store(ipam) as store:
        held = store.owned_by(owner)
        try:
            for range_id, range_set in enumerate(ipam.range_sets):
                again = _held_in(range_set, held)
                result.ips.append(again or allocate(store, range_set, range_id, owner))
        except BaseException:
            for ipc in result.ips:
                if ipc.address.ip not in held:
                    store.release(ipc.address.ip)
            raise
    return result


def ipam_del(conf: dict[str, Any], owner: Owner) -> None:
    ipam = load_ipam_conf(conf)
    with _store(ipam) as store:
        store.release_owner(owner)


def ipam_check(conf: dict[str, Any], owner: Owner) -> None:
    ipam = load_ipam_conf(conf)
    with _store(ipam) as store:
        held = store.owned_by(owner)
    for range_set in ipam.range_sets:
        if not any(find_range(range_set, ip) for ip in held):
            first = range_set[0]
            raise CNIError(
                ErrorCode.INTERNAL,
                f"no address of {first.subnet} is reserved for {owner[0]}/{owner[1]}",
            )


def valid_attachments(conf: dict[str, Any]) -> set[Owner]:
    for key in VALID_ATTACHMENTS:
        if key in conf:
            raw = conf[key]
            if not isinstance(raw, list):
                raise CNIError(ErrorCode.INVALID_CONFIG, f"{key} must be a list")
            try:
                return {(str(a["containerID"]), str(a["ifname"])) for a in raw}
            except (TypeError, KeyError):
                raise CNIError(
                    ErrorCode.INVALID_CONFIG, f"each entry of {key} needs containerID and ifname"
                ) from None
    return set()


def ipam_gc(conf: dict[str, Any]) -> list[str]:
    """Release every reservation whose owner is not a valid attachment."""
    ipam = load_ipam_conf(conf)
    keep = valid_attachments(conf)
    freed = []
    with _store(ipam) as store:
        for ip, owner in store.reservations().items():
            if owner not in keep:
                store.release(ip)
                freed.append(str(ip))
    return freed


def ipam_status(conf: dict[str, Any]) -> None:
    """Error 50 when an ADD could not succeed now."""
    ipam = load_ipam_conf(conf)
    store = _store(ipam)
    try:
        with store:
            if not os.access(store.dir, os.W_OK):
                raise CNIError(ErrorCode.NOT_AVAILABLE, f"IPAM store {store.dir!r} is not writable")
            for range_set in ipam.range_sets:
                if not has_free_address(store, range_set):
                    raise CNIError(
                        ErrorCode.NOT_AVAILABLE,
                        f"IPAM pool {range_set[0].subnet} is exhausted",
                    )
    except CNIError as e:
        if e.code != ErrorCode.NOT_AVAILABLE:
            raise CNIError(ErrorCode.NOT_AVAILABLE, e.msg, e.details) from e
        raise


class IPAMPlugin:
    """PluginFuncs for skel: the stand-alone `pycni-ipam` executable."""

    @staticmethod
    def _conf(args: CmdArgs) -> dict[str, Any]:
        return load_json(args.stdin_data, "network config")

    def add(self, args: CmdArgs) -> Result:
        return ipam_add(self._conf(args), (args.container_id, args.ifname))

    def check(self, args: CmdArgs) -> None:
        ipam_check(self._conf(args), (args.container_id, args.ifname))

    def delete(self, args: CmdArgs) -> None:
        ipam_del(self._conf(args), (args.container_id, args.ifname))

    def gc(self, args: CmdArgs) -> None:
        ipam_gc(self._conf(args))

    def status(self, args: CmdArgs) -> None:
        ipam_status(self._conf(args))
