"""Step 11: the student's plugin called by hand, as a runtime of each era would: VERSION,
ADD with a 0.3.1 and a 1.1.0 config, STATUS on a full pool, GC with one attachment gone,
STATUS again, STATUS on a store that cannot be written.

Everything runs on a network of its own (`ex11`: its own bridge, a two-address pool, an
IPAM store in a folder of the check), so the student's GC can never reach the lab's pods,
and all of it is removed at the end.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lab.cni.invoke import Execution
from lab.exercises.checker import Checker
from lab.kernel.netns import delete_netns

NODE = "node1"
NETWORK = "ex11"
BRIDGE = "ex11-br0"
SUBNET, FIRST, LAST = "10.11.0.0/24", "10.11.0.2", "10.11.0.3"  # a pool of two addresses
VALID = "cni.dev/valid-attachments"


def _answer(c: Checker, ex: Execution, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(ex.stdout)
    except ValueError:
        c.expect(False, f"{what}: stdout must hold only JSON, got {ex.stdout[:160]!r}")
    c.expect(isinstance(obj, dict), f"{what}: stdout must hold a JSON object")
    return obj


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


def _host_veth(result: dict[str, Any]) -> str:
    names = [i["name"] for i in result.get("interfaces", []) if not i.get("sandbox")]
    return next((n for n in names if n != BRIDGE), "")


def check(c: Checker) -> None:
    node = c.plan.node(NODE)
    data_dir = tempfile.mkdtemp(prefix="ex11-ipam-", dir=c.plan.state_dir)
    ipam = {"type": "pycni-ipam", "subnet": SUBNET, "rangeStart": FIRST, "rangeEnd": LAST}
    conf = {
        "cniVersion": "1.1.0",
        "name": NETWORK,
        "type": "pycni",
        "bridge": BRIDGE,
        "ipam": {**ipam, "dataDir": data_dir},
    }
    store = Path(data_dir, NETWORK)
    old_id, new_id = secrets.token_hex(32), secrets.token_hex(32)
    old_ns, new_ns = c.empty_netns("old"), c.empty_netns("new")
    try:
        with c.step("VERSION lists 0.3.1 as well as 1.1.0", hint=1):
            supported = _ok(c, c.call("VERSION", {}), "VERSION").get("supportedVersions", [])
            c.expect(
                "0.3.1" in supported and "1.1.0" in supported,
                f"supportedVersions is {supported}: a runtime with a 0.3.1 config gets error 1",
            )

        with c.step('ADD from a 0.3.1 runtime is answered in 0.3.1 (ips[].version "4")', hint=1):
            ex = c.call("ADD", {**conf, "cniVersion": "0.3.1"}, container_id=old_id, netns=old_ns)
            old = _ok(c, ex, "ADD with cniVersion 0.3.1")
            c.expect(old.get("cniVersion") == "0.3.1", "the result must say cniVersion 0.3.1")
            ips = old.get("ips", [])
            c.expect(
                ips and all(ip.get("version") == "4" for ip in ips),
                f'a 0.3.1 result has "version": "4" in each of its ips, got {ips}',
            )

        with c.step("ADD from a 1.1.0 runtime is answered in 1.1.0 (no ips[].version)", hint=1):
            new = _ok(c, c.call("ADD", conf, container_id=new_id, netns=new_ns), "ADD")
            c.expect(new.get("cniVersion") == "1.1.0", "the result must say cniVersion 1.1.0")
            ips = new.get("ips", [])
            c.expect(
                ips and not any("version" in ip for ip in ips),
                f"ips[].version is gone since 1.0.0, got {ips}",
            )

        with c.step("STATUS answers error 50 while the pool is full", hint=2):
            _code_50(c, c.call("STATUS", conf), f"both addresses of {FIRST}-{LAST} are taken")

        old_veth, new_veth = _host_veth(old), _host_veth(new)
        before = _links(c, node.netns)
        with c.step("GC deletes the host veth of the attachment the runtime forgot", hint=3):
            keep = {**conf, VALID: [{"containerID": new_id, "ifname": "eth0"}]}
            _ok(c, c.call("GC", keep), "GC")
            after = _links(c, node.netns)
            c.expect(old_veth not in after, f"{old_veth} (not in {VALID}) is still on node1")
            c.expect(new_veth in after, f"GC deleted {new_veth}, which is in {VALID}")
            others = before - after - {old_veth}
            c.expect(not others, f"GC deleted {sorted(others)}: not this network's to delete")

        with c.step("GC releases the forgotten attachment's address, not the other", hint=4):
            old_ip, new_ip = (r["ips"][0]["address"].split("/")[0] for r in (old, new))
            c.expect(not (store / old_ip).exists(), f"{old_ip} is still reserved in {store}")
            c.expect((store / new_ip).exists(), f"GC released {new_ip}, which is still in use")

        with c.step("STATUS answers OK once an address is free again", hint=2):
            _ok(c, c.call("STATUS", conf), "STATUS")

        with c.step("STATUS answers error 50 when the IPAM store cannot be written", hint=2):
            blocked = Path(data_dir, "not-a-folder")
            blocked.write_text("a file where the store's folder should be\n")
            broken = {**conf, "ipam": {**ipam, "dataDir": str(blocked)}}
            _code_50(c, c.call("STATUS", broken), f"the store {blocked}/{NETWORK} cannot be made")
    finally:
        for netns in (old_ns, new_ns):
            delete_netns(netns)  # their veth pairs go with them
        c.sh(node.netns, "ip", "link", "del", BRIDGE)
        shutil.rmtree(data_dir, ignore_errors=True)
