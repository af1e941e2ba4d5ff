"""Step 14: the student's plugin called by hand, as a runtime of each era would.

VERSION, then ADD with a 0.3.1, a 0.4.0 and a 1.1.0 config (the last two on one pod, as
eth0 and eth1), STATUS on a full pool, GC with only that pod's eth0 still valid, STATUS
again, and STATUS on a store that cannot be written.

GC has neighbours that are not its to collect: an attachment of the same plugin on
another network whose name starts with this one's, a link labelled by another plugin for
this very network, and an unlabelled link. Everything runs on networks of the check's
own (`ex14`, `ex14-b`: one bridge, IPAM stores in the check's temp folder), so the
student's GC can never reach the lab's pods. The checker removes all of it at the end.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from lab.cni.invoke import Execution
from lab.exercises.checker import Checker

NODE = "node1"
NETWORK, OTHER = "ex14", "ex14-b"  # OTHER starts with NETWORK: a prefix match is a bug
BRIDGE = "ex14-br0"
SUBNET, FIRST, LAST = "10.14.0.0/24", "10.14.0.2", "10.14.0.4"  # a pool of three
OTHER_SUBNET = "10.14.1.0/24"
VALID = "cni.dev/valid-attachments"
VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
ALIEN, PLAIN = "ex14-alien", "ex14-plain"  # another plugin's link, and a link of nobody


def _answer(c: Checker, ex: Execution, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(ex.stdout)
    except ValueError:
        obj = None
    c.expect(
        isinstance(obj, dict), f"{what}: stdout must hold one JSON object, got {ex.stdout[:160]!r}"
    )
    return obj  # type: ignore[return-value]


def _ok(c: Checker, ex: Execution, what: str) -> dict[str, Any]:
    if ex.returncode != 0:
        msg = _answer(c, ex, what).get("msg", "") if ex.stdout.strip() else ex.stderr[-300:]
        c.expect(False, f"{what} failed (exit {ex.returncode}): {msg}")
    return _answer(c, ex, what) if ex.stdout.strip() else {}


def _code_50(c: Checker, ex: Execution, why: str) -> None:
    c.expect(ex.returncode != 0, f"STATUS answered OK, yet {why}: an ADD would fail now")
    code = _answer(c, ex, "STATUS").get("code")
    c.expect(code == 50, f"STATUS answered code {code}; 'not available' is 50")


def _links(c: Checker, netns: str) -> set[str]:
    return {link["ifname"] for link in json.loads(c.sh(netns, "ip", "-j", "link").stdout or "[]")}


def _host_veth(c: Checker, result: dict[str, Any], what: str) -> str:
    names = [i.get("name", "") for i in result.get("interfaces", []) if not i.get("sandbox")]
    name = next((n for n in names if n != BRIDGE), "")
    c.expect(name, f"{what}: the result lists no host-side interface: {result.get('interfaces')}")
    return name


def _ip(result: dict[str, Any]) -> str:
    return str(result["ips"][0]["address"]).split("/")[0]


def _add_in(
    c: Checker, conf: dict[str, Any], version: str, cid: str, netns: str, ifname: str
) -> dict[str, Any]:
    """ADD from a runtime whose config says `version`, answered in that version."""
    what = f"ADD of {ifname} with cniVersion {version}"
    ex = c.call(
        "ADD", {**conf, "cniVersion": version}, container_id=cid, netns=netns, ifname=ifname
    )
    answer = _ok(c, ex, what)
    c.expect(
        answer.get("cniVersion") == version,
        f"{what}: the result says cniVersion {answer.get('cniVersion')!r}",
    )
    ips = answer.get("ips") or []
    c.expect(ips, f"{what}: the result has no ips")
    old = version.startswith("0.")
    for ip in ips:
        if old:
            c.expect(
                ip.get("version") == "4",
                f'{what}: a {version} result has "version": "4" in each of ips, got {ip}',
            )
        else:
            c.expect("version" not in ip, f"{what}: ips[].version is gone since 1.0.0, got {ip}")
    return answer


def _decoys(c: Checker, node_ns: str, cid: str) -> None:
    """Links GC must leave: another plugin's attachment on this network, and nobody's."""
    for name in (ALIEN, PLAIN):
        c.sh(node_ns, "ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}-p")
    c.sh(node_ns, "ip", "link", "set", ALIEN, "alias", f"pycni {NETWORK} {cid} eth0")


def _remove_bridge(c: Checker, node_ns: str) -> None:
    """The bridge and its ports, now: a namespace's veths die after the namespace does,
    a while later, and the checker's own cleanup spares a bridge that still has ports."""
    ports = json.loads(c.sh(node_ns, "ip", "-j", "link", "show", "master", BRIDGE).stdout or "[]")
    for name in [p["ifname"] for p in ports] + [BRIDGE]:
        c.sh(node_ns, "ip", "link", "del", name)


def check(c: Checker) -> None:
    node = c.plan.node(NODE)
    try:
        _check(c, node.netns)
    finally:
        _remove_bridge(c, node.netns)


def _check(c: Checker, node_ns: str) -> None:
    data_dir = str(c.tempdir())
    ipam = {"type": "pycni-ipam", "subnet": SUBNET, "rangeStart": FIRST, "rangeEnd": LAST}
    conf = {
        "cniVersion": "1.1.0",
        "name": NETWORK,
        "type": "pycni",
        "bridge": BRIDGE,
        "ipam": {**ipam, "dataDir": data_dir},
    }
    other = {
        **conf,
        "name": OTHER,
        "ipam": {"type": "pycni-ipam", "subnet": OTHER_SUBNET, "dataDir": data_dir},
    }
    store = Path(data_dir, NETWORK)
    old_id, two_id, other_id = (secrets.token_hex(32) for _ in range(3))
    old_ns, two_ns, other_ns = c.empty_netns("old"), c.empty_netns("two"), c.empty_netns("other")
    with c.step("VERSION lists every version the result can be written in", hint=1):
        supported = _ok(c, c.call("VERSION", {}), "VERSION").get("supportedVersions", [])
        missing = [v for v in VERSIONS if v not in supported]
        c.expect(
            not missing,
            f"supportedVersions is {supported}, without {', '.join(missing)}: "
            "a runtime whose config says one of those gets error 1",
        )

    with c.step('ADD from a 0.3.1 runtime is answered in 0.3.1 (ips[].version "4")', hint=1):
        old = _add_in(c, conf, "0.3.1", old_id, old_ns, "eth0")
    with c.step("ADD from a 1.1.0 runtime is answered in 1.1.0 (no ips[].version)", hint=1):
        two0 = _add_in(c, conf, "1.1.0", two_id, two_ns, "eth0")
    with c.step("ADD of the same pod's eth1 from a 0.4.0 runtime is answered in 0.4.0", hint=1):
        eth1_conf = {**conf, "isDefaultGateway": False}  # eth0 has the default route
        two1 = _add_in(c, eth1_conf, "0.4.0", two_id, two_ns, "eth1")
    with c.step(f"ADD on another network, {OTHER}, succeeds too", hint=1):
        on_other = _add_in(c, other, "1.1.0", other_id, other_ns, "eth0")

    with c.step("STATUS answers error 50 while the pool is full", hint=2):
        _code_50(c, c.call("STATUS", conf), f"the three addresses of {FIRST}-{LAST} are taken")

    with c.step("GC deletes the host veths of the attachments the runtime forgot", hint=3):
        veth = {
            "old": _host_veth(c, old, "ADD 0.3.1"),
            "eth0": _host_veth(c, two0, "ADD 1.1.0"),
            "eth1": _host_veth(c, two1, "ADD 0.4.0"),
            "other": _host_veth(c, on_other, f"ADD on {OTHER}"),
        }
        _decoys(c, node_ns, old_id)
        keep = {**conf, VALID: [{"containerID": two_id, "ifname": "eth0"}]}
        gc = c.call("GC", keep)
        after = _links(c, node_ns)
        _ok(c, gc, "GC")
        c.expect(
            veth["old"] not in after,
            f"{veth['old']} (its pod is not in {VALID}) is still on node1",
        )
        c.expect(
            veth["eth1"] not in after,
            f"{veth['eth1']}, the host end of eth1, is still on node1: {VALID} lists the pod's "
            "eth0 only. An attachment is a container and an interface",
        )
    with c.step("GC keeps the attachment the runtime still lists", hint=3):
        c.expect(
            veth["eth0"] in after,
            f"GC deleted {veth['eth0']}, the host end of eth0, which is in {VALID}",
        )
    with c.step("GC touches nothing that is not this network's and its own", hint=4):
        gone = {
            veth["other"]: f"the veth of an attachment on network {OTHER}",
            ALIEN: f"a link labelled by another plugin (pycni) for {NETWORK}",
            PLAIN: "a link with no label at all",
        }
        taken = [f"{name} ({why})" for name, why in gone.items() if name not in after]
        c.expect(not taken, f"GC of {NETWORK} deleted {'; '.join(taken)}")

    with c.step("GC releases the forgotten attachments' addresses, not the listed one", hint=5):
        for what, result in (("the forgotten pod", old), ("the pod's eth1", two1)):
            c.expect(
                not (store / _ip(result)).exists(),
                f"{_ip(result)} ({what}) is still reserved in {store}",
            )
        c.expect((store / _ip(two0)).exists(), f"GC released {_ip(two0)}, which eth0 still uses")
        c.expect(
            Path(data_dir, OTHER, _ip(on_other)).exists(),
            f"GC of {NETWORK} released {_ip(on_other)}, an address of {OTHER}",
        )

    with c.step("STATUS answers OK once an address is free again", hint=2):
        _ok(c, c.call("STATUS", conf), "STATUS")

    with c.step("STATUS answers error 50 when the IPAM store cannot be written", hint=2):
        blocked = Path(data_dir, "not-a-folder")
        blocked.write_text("a file where the store's folder should be\n")
        broken = {**conf, "ipam": {**ipam, "dataDir": str(blocked)}}
        _code_50(c, c.call("STATUS", broken), f"the store {blocked}/{NETWORK} cannot be made")
