"""Run the configured IPAM: pycni's own in-process, anything else through CNI_PATH.

SPEC.md section 4: the plugin hands the whole network config to the IPAM plugin
with the same CNI_* environment; only CNI_COMMAND differs (libcni's DelegateArgs).
"""

from __future__ import annotations

import logging
from typing import Any

from lab.cni import invoke
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Result
from lab.cni.skel import CmdArgs
from lab.pycni.ipam import plugin as own
from lab.pycni.ipam.config import TYPE as OWN_TYPE

log = logging.getLogger("pycni")


def _caller_env(args: CmdArgs) -> dict[str, str]:
    """The env this plugin was called with, rebuilt from `args`: under `pycni daemon` the
    call runs in a daemon worker, whose os.environ is not the runtime's."""
    return invoke.cni_env(
        args.command,
        args.path,
        container_id=args.container_id,
        netns=args.netns,
        ifname=args.ifname,
        args=args.args,
    )


def _type(conf: dict[str, Any]) -> str:
    return str(conf["ipam"]["type"])


def ipam_add(conf: dict[str, Any], stdin: bytes, args: CmdArgs) -> Result:
    if _type(conf) == OWN_TYPE:
        return own.ipam_add(conf, (args.container_id, args.ifname))
    return invoke.delegate_add(_type(conf), stdin, _caller_env(args))


def ipam_del(conf: dict[str, Any], stdin: bytes, args: CmdArgs) -> None:
    if _type(conf) == OWN_TYPE:
        own.ipam_del(conf, (args.container_id, args.ifname))
    else:
        invoke.delegate_del(_type(conf), stdin, _caller_env(args))


def ipam_check(conf: dict[str, Any], stdin: bytes, args: CmdArgs) -> None:
    if _type(conf) == OWN_TYPE:
        own.ipam_check(conf, (args.container_id, args.ifname))
    else:
        invoke.delegate_check(_type(conf), stdin, _caller_env(args))


def ipam_gc(conf: dict[str, Any], stdin: bytes, args: CmdArgs) -> None:
    if _type(conf) == OWN_TYPE:
        freed = own.ipam_gc(conf)
        log.info("GC released %d address(es): %s", len(freed), ", ".join(freed) or "-")
        return
    try:
        invoke.exec_plugin(_type(conf), stdin, invoke.delegate_env("GC", _caller_env(args)))
    except CNIError as e:  # older IPAM plugins (host-local) know no GC: not our failure
        log.warning("IPAM %s could not GC: %s", _type(conf), e)


def ipam_status(conf: dict[str, Any], stdin: bytes, args: CmdArgs) -> None:
    if _type(conf) == OWN_TYPE:
        own.ipam_status(conf)
        return
    try:
        invoke.find_in_path(_type(conf), args.path)
    except CNIError as e:
        raise CNIError(ErrorCode.NOT_AVAILABLE, e.msg, e.details) from e
