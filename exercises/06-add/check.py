"""Step 5: a pod attached by the student's ADD, run by the lab's runtime, as kubelet would."""

from __future__ import annotations

import ipaddress
import json

from lab.exercises.checker import Checker


def _links(c: Checker, netns: str) -> list[dict]:
    return json.loads(c.sh(netns, "ip", "-j", "-d", "link").stdout or "[]")


def check(c: Checker) -> None:
    node = c.plan.node("node1")
    before = {link["ifname"] for link in _links(c, node.netns)}
    with c.step("the runtime's ADD succeeds with your plugin", hint=1):
        pod = c.add_pod("a", "node1")
    result = pod.attachments[0].result
    links = {link["ifname"]: link for link in _links(c, pod.netns)}

    with c.step("the pod has eth0, a veth", hint=1):
        c.expect("eth0" in links, f"no eth0 in the pod; it has {sorted(links)}")
        kind = links["eth0"].get("linkinfo", {}).get("info_kind")
        c.expect(kind == "veth", f"eth0 is a {kind}, not a veth")

    new = [link for link in _links(c, node.netns) if link["ifname"] not in before]
    with c.step("the host end is on cni0 and up", hint=2):
        c.expect(len(new) == 1, f"expected one new interface on node1, found {len(new)}")
        veth = new[0]
        c.expect(veth.get("master") == "cni0", f"{veth['ifname']} is not a port of cni0")
        c.expect("UP" in veth.get("flags", []), f"{veth['ifname']} is down")

    with c.step("eth0 has an address of node1's pod CIDR, and is up", hint=3):
        addrs = json.loads(c.sh(pod.netns, "ip", "-j", "addr", "show", "eth0").stdout)[0]
        inet = [a for a in addrs["addr_info"] if a["family"] == "inet"]
        c.expect(inet, "eth0 has no IPv4 address")
        address = ipaddress.ip_address(inet[0]["local"])
        c.expect(
            address in ipaddress.ip_network(node.pod_cidr),
            f"{address} is not in node1's pod CIDR {node.pod_cidr}",
        )
        c.expect("UP" in addrs["flags"], "eth0 is down")

    with c.step("the default route goes through the gateway", hint=3):
        routes = json.loads(c.sh(pod.netns, "ip", "-j", "route").stdout)
        default = [r for r in routes if r["dst"] == "default"]
        c.expect(
            default and default[0].get("gateway") == node.gateway,
            f"expected 'default via {node.gateway}', got {default}",
        )

    with c.step("the result names the pod's interface, its sandbox and address", hint=1):
        pod_ifs = [i for i in result.get("interfaces", []) if i.get("sandbox")]
        c.expect(pod_ifs and pod_ifs[0]["name"] == "eth0", "no interface with a sandbox")
        c.expect(pod_ifs[0]["sandbox"] == pod.netns_path, "the sandbox must be CNI_NETNS")
        ips = result.get("ips", [])
        c.expect(
            ips and ips[0]["address"].startswith(f"{address}/"),
            "the result's ips[0] must be the pod's address",
        )

    with c.step("the pod pings its gateway", hint=2):
        c.expect(c.pings(pod.netns, node.gateway), f"no reply from {node.gateway}")
