"""Step 7: a node shared by pods and interfaces. The student's plugin attaches pod a
(eth0 on cni0, eth1 on the secondary network's cni1) and pod b (eth0), next to a pod
of the lab's own plugin on cni1; then a's eth1 and b are deleted one at a time, and
what is not theirs must keep working.

Every call is made by hand, as in step 6, so a failed ADD leaves its state to read.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from pathlib import Path
from typing import Any, NamedTuple

from lab.cluster.plan import SECONDARY_CONF_FILE
from lab.exercises.checker import Checker

NODE = "node1"


class Attachment(NamedTuple):
    """One (container, interface) the check attached, and what the plugin answered."""

    netns: str
    container_id: str
    ifname: str
    conf: dict[str, Any]
    ok: bool
    error: str
    binary: str = ""

    @property
    def key(self) -> str:
        return f"{self.netns}/{self.ifname}"


def ip_json(c: Checker, netns: str, *argv: str) -> list[dict[str, Any]]:
    return json.loads(c.sh(netns, "ip", "-j", *argv).stdout or "[]")


def secondary_conf(c: Checker) -> dict[str, Any]:
    """The node's second network as the runtime sends it (a node-local cni1)."""
    path = Path(c.plan.node(NODE).conf_dir, SECONDARY_CONF_FILE)
    conflist = json.loads(path.read_text())
    plugin = dict(conflist["plugins"][0])
    plugin.update(name=conflist["name"], cniVersion=conflist["cniVersion"])
    plugin.pop("capabilities", None)
    return plugin


def attach(
    c: Checker, netns: str, container_id: str, ifname: str, conf: dict[str, Any], binary: str = ""
) -> Attachment:
    ex = c.call("ADD", conf, container_id=container_id, netns=netns, ifname=ifname, binary=binary)
    try:
        answer = json.loads(ex.stdout or b"{}")
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    ok = ex.returncode == 0 and "code" not in answer
    error = "" if ok else str(answer.get("msg") or ex.stderr.decode(errors="replace")[-300:])
    return Attachment(netns, container_id, ifname, conf, ok, error, binary)


def detach(c: Checker, att: Attachment) -> bool:
    ex = c.call(
        "DEL",
        att.conf,
        container_id=att.container_id,
        netns=att.netns,
        ifname=att.ifname,
        binary=att.binary,
    )
    return ex.returncode == 0


def host_end(c: Checker, att: Attachment) -> dict[str, Any] | None:
    """The host end of the attachment's veth (found by its peer index, not its name)."""
    links = {x["ifname"]: x for x in ip_json(c, att.netns, "-d", "link")}
    pod_end = links.get(att.ifname)
    if pod_end is None:
        return None
    node = c.plan.node(NODE).netns
    found = [h for h in ip_json(c, node, "-d", "link") if h["ifindex"] == pod_end.get("link_index")]
    return found[0] if found else None


def why(att: Attachment) -> str:
    return f" (ADD of {att.ifname} failed: {att.error})" if not att.ok else ""


def name_trouble(att: Attachment, taken: list[str]) -> str:
    """What a failed veth creation says about the host end's name."""
    if "out of range" in att.error or "too long" in att.error:
        return "An interface name has at most 15 characters (IFNAMSIZ - 1): yours is longer"
    if "File exists" in att.error:
        return (
            f"'File exists' here means the host end's name was taken: the host ends so far "
            f"are {taken}; each (container ID, interface) needs a name of its own"
        )
    return "Each (container ID, interface) needs a host end, named for it alone"


def check_own_host_ends(c: Checker, atts: list[Attachment]) -> dict[str, dict[str, Any]]:
    ends: dict[str, dict[str, Any]] = {}
    for att in atts:
        end = host_end(c, att)
        if end is None:
            taken = [e["ifname"] for e in ends.values()]
            c.expect(
                False, f"{att.netns} has no {att.ifname}{why(att)}. {name_trouble(att, taken)}"
            )
        ends[att.key] = end  # type: ignore[assignment]
    names = [e["ifname"] for e in ends.values()]
    c.expect(len(set(names)) == len(names), f"host ends share a name: {names}")
    return ends


def inet(c: Checker, netns: str, ifname: str) -> list[ipaddress.IPv4Interface]:
    shown = ip_json(c, netns, "addr", "show", "dev", ifname)
    infos = shown[0]["addr_info"] if shown else []
    return [
        ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
        for a in infos
        if a["family"] == "inet"
    ]


def check(c: Checker) -> None:
    main, side = c.node_conf(NODE), secondary_conf(c)
    made: list[Attachment] = []
    try:
        run(c, main, side, made)
    finally:
        for att in reversed(made):
            detach(c, att)


def run(c: Checker, main: dict[str, Any], side: dict[str, Any], made: list[Attachment]) -> None:
    other_ns = c.empty_netns("other")
    neighbour = attach(c, other_ns, secrets.token_hex(32), "eth0", side, binary="pycni")
    made.append(neighbour)
    a_ns, b_ns = c.empty_netns("a"), c.empty_netns("b")
    a_id, b_id = secrets.token_hex(32), secrets.token_hex(32)
    a0 = attach(c, a_ns, a_id, "eth0", main)
    made.append(a0)
    a1 = attach(c, a_ns, a_id, "eth1", side)
    made.append(a1)
    b0 = attach(c, b_ns, b_id, "eth0", main)
    made.append(b0)

    with c.step("every attachment gets a host end of its own", hint=1):
        ends = check_own_host_ends(c, [neighbour, a0, a1, b0])
    with c.step("each host end is on the bridge its network's config names, and up", hint=2):
        for att in (a0, a1, b0):
            end, bridge = ends[att.key], att.conf.get("bridge")
            c.expect(
                end.get("master") == bridge,
                f"{end['ifname']} ({att.netns}/{att.ifname}) is on {end.get('master')}, "
                f"but its network {att.conf['name']!r} says bridge {bridge!r}",
            )
            c.expect("UP" in end.get("flags", []), f"{end['ifname']} is down")
    with c.step(
        "only the network that says isDefaultGateway gives the pod its default route", hint=3
    ):
        routes = ip_json(c, a_ns, "route", "show", "default")
        got = [(r.get("gateway"), r.get("dev")) for r in routes]
        want = [(c.plan.node(NODE).gateway, "eth0")]
        refused = not a1.ok and "File exists" in a1.error  # eth1 was made: the route clashed
        seen = "ADD of eth1 tried to add a second one" if refused else f"they are {got}"
        c.expect(
            got == want and not refused,
            f"pod a needs exactly {want}: {seen}{why(a1)}. A pod has one default route, "
            f"and the secondary network's config says isDefaultGateway false: eth1 gets none",
        )
    with c.step("every ADD succeeds", hint=1):
        for att in (a0, a1, b0):
            c.expect(att.ok, f"ADD of {att.netns}/{att.ifname} failed: {att.error}")

    a_ip = inet(c, a_ns, "eth0")[0]
    b_ip = inet(c, b_ns, "eth0")[0]
    with c.step("pods a and b talk through cni0 by ARP, bridged not routed", hint=4):
        c.expect(a_ip.ip != b_ip.ip, f"pods a and b both hold {a_ip}")
        c.expect(c.pings(b_ns, str(a_ip.ip)), f"b gets no reply from a ({a_ip.ip})")
        a_mac = ip_json(c, a_ns, "link", "show", "eth0")[0]["address"]
        neigh = ip_json(c, b_ns, "neigh", "show", str(a_ip.ip), "dev", "eth0")
        c.expect(
            [n.get("lladdr") for n in neigh] == [a_mac],
            f"b should know a's own MAC {a_mac} by ARP, it has {neigh}",
        )
        fdb = json.loads(
            c.sh(c.plan.node(NODE).netns, "bridge", "-j", "fdb", "show", "br", "cni0").stdout
            or "[]"
        )
        port = [f.get("ifname") for f in fdb if f.get("mac") == a_mac]
        c.expect(
            port == [ends[a0.key]["ifname"]],
            f"cni0 should have learnt {a_mac} on {ends[a0.key]['ifname']}, it has it on {port}",
        )

    with c.step("DEL of a's eth1 removes its host end, and nothing else", hint=5):
        c.expect(detach(c, a1), f"DEL of {a_ns}/eth1 failed")
        made.remove(a1)
        node_links = {x["ifname"] for x in ip_json(c, c.plan.node(NODE).netns, "link")}
        c.expect(
            ends[a1.key]["ifname"] not in node_links,
            f"{ends[a1.key]['ifname']} (a's eth1's host end) is still on node1 after DEL",
        )
        for att in (neighbour, a0, b0):
            c.expect(
                ends[att.key]["ifname"] in node_links,
                f"DEL of a's eth1 removed {ends[att.key]['ifname']} ({att.netns}/{att.ifname})",
            )
    with c.step("after DEL of b, pod a and the other network's pod still work", hint=5):
        c.expect(detach(c, b0), f"DEL of {b_ns}/eth0 failed")
        made.remove(b0)
        c.expect(c.pings(a_ns, c.plan.node(NODE).gateway), "pod a lost its gateway")
        side_gateway = ipaddress.ip_network(side["ipam"]["subnet"]).network_address + 1
        c.expect(
            c.pings(neighbour.netns, str(side_gateway)),
            f"the other network's pod on cni1 no longer reaches {side_gateway}",
        )
