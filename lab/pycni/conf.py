"""pycni's own options, read on top of the fields every plugin shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.cni.config import PluginConf, load_json
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.skel import ifname_problem
from lab.pycni.daemon_control import DaemonOptions, parse_options
from lab.pycni.demo import SOCKET_PATH_MAX, DemoOptions

PLUGIN_TYPE = "pycni"
DEFAULT_BRIDGE = "cni0"
DEFAULT_LOG_FILE = "/var/log/cnilab/pycni.log"
NETWORK_NAME_MAX = 64


def _bad(msg: str) -> CNIError:
    return CNIError(ErrorCode.INVALID_CONFIG, msg)


def _bool(raw: dict[str, Any], key: str, default: bool = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _bad(f"{key!r} must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class BridgeConf:
    """The options of the reference `bridge` that pycni implements, same names."""

    base: PluginConf
    bridge: str = DEFAULT_BRIDGE
    is_gateway: bool = False
    is_default_gateway: bool = False
    ip_masq: bool = False
    mtu: int | None = None
    hairpin_mode: bool = False
    log_file: str = DEFAULT_LOG_FILE
    demo: DemoOptions = field(default_factory=DemoOptions)
    daemon: DaemonOptions = field(default_factory=DaemonOptions)  # read by the thin client

    @property
    def network(self) -> str:
        return self.base.name

    @property
    def raw(self) -> dict[str, Any]:
        return self.base.raw

    @property
    def demo_delay(self) -> float:
        return self.demo.delay


def parse_demo(raw: dict[str, Any], runtime_config: dict[str, Any]) -> DemoOptions:
    """The conflist's demoDelay, then the runtime's `demo` capability arg, which wins."""
    delay = raw.get("demoDelay", 0)
    demo = runtime_config.get("demo", {})
    if not isinstance(demo, dict):
        raise _bad(f"runtimeConfig.demo must be an object, got {demo!r}")
    delay = demo.get("delay", delay)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 10:
        raise _bad(f"demoDelay must be a number of seconds from 0 to 10, got {delay!r}")
    events = demo.get("events", "")
    if not isinstance(events, str) or (
        events and (not events.startswith("/") or len(events.encode()) > SOCKET_PATH_MAX)
    ):
        raise _bad(f"demo.events must be an absolute socket path of at most 107 bytes: {events!r}")
    manual = demo.get("manual", False)
    if not isinstance(manual, bool):
        raise _bad(f"demo.manual must be true or false, got {manual!r}")
    return DemoOptions(float(delay), events, manual)


def parse_bridge_conf(raw: dict[str, Any]) -> BridgeConf:
    base = PluginConf.from_dict(raw)
    if len(base.name) > NETWORK_NAME_MAX:
        raise _bad(f"network name is longer than {NETWORK_NAME_MAX} characters")
    bridge = raw.get("bridge", DEFAULT_BRIDGE)
    if not isinstance(bridge, str) or ifname_problem(bridge):
        raise _bad(f"invalid bridge name {bridge!r}: 1-15 bytes, no '/', ':' or spaces")
    mtu = raw.get("mtu")
    if mtu is not None and (
        not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= 65535
    ):
        raise _bad(f"mtu must be an integer from 68 to 65535, got {mtu!r}")
    log_file = raw.get("logFile", DEFAULT_LOG_FILE)
    if not isinstance(log_file, str) or not log_file.startswith("/"):
        raise _bad(f"logFile must be an absolute path, got {log_file!r}")
    demo = parse_demo(raw, base.runtime_config)
    if not isinstance(base.ipam.get("type"), str) or not base.ipam["type"]:
        raise _bad('pycni needs an "ipam" section with a "type"')
    if base.ipam["type"] in (base.type, PLUGIN_TYPE):  # it would exec itself, forever
        raise _bad(f'pycni cannot be its own IPAM: "ipam.type" is {base.ipam["type"]!r}')
    is_default_gateway = _bool(raw, "isDefaultGateway")
    return BridgeConf(
        base=base,
        bridge=bridge,
        # like the reference bridge: a default gateway must be a gateway
        is_gateway=_bool(raw, "isGateway") or is_default_gateway,
        is_default_gateway=is_default_gateway,
        ip_masq=_bool(raw, "ipMasq"),
        mtu=mtu,
        hairpin_mode=_bool(raw, "hairpinMode"),
        log_file=log_file,
        demo=demo,
        daemon=parse_options(raw),
    )


def load_bridge_conf(stdin: bytes) -> BridgeConf:
    return parse_bridge_conf(load_json(stdin, "network config"))
