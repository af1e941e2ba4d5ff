"""Step 1: every answer is compared with what the lab's kernel says right now."""

from __future__ import annotations

import ipaddress
import json
import tomllib

from lab.exercises.checker import Checker


def _answers(c: Checker) -> dict[str, str]:
    try:
        return tomllib.loads(c.file.read_text())
    except tomllib.TOMLDecodeError as e:
        c.expect(False, f"{c.file.name} is not valid TOML: {e}")
    raise AssertionError


def _kernel(c: Checker, netns: str, *argv: str) -> list[dict]:
    return json.loads(c.sh(netns, "ip", "-j", *argv).stdout or "[]")


def _same(answer: str, truth: str) -> bool:
    try:
        if "/" in truth:
            return ipaddress.ip_network(answer.strip(), strict=False) == ipaddress.ip_network(truth)
        return ipaddress.ip_address(answer.strip()) == ipaddress.ip_address(truth)
    except ValueError:
        return False


def check(c: Checker) -> None:
    with c.step("the answers file is readable"):
        answers = _answers(c)
    n1, n2 = c.plan.node("node1"), c.plan.node("node2")
    cni0 = _kernel(c, n1.netns, "addr", "show", "cni0")[0]["addr_info"]
    gateway = next(a for a in cni0 if a["family"] == "inet")
    peer_route = next(
        r for r in _kernel(c, n1.netns, "route") if r["dst"] == n2.pod_cidr and "gateway" in r
    )
    eth0 = _kernel(c, n1.netns, "addr", "show", "eth0")[0]["addr_info"]
    egress = _kernel(c, n1.netns, "route", "get", c.plan.internet_address)[0]["prefsrc"]
    truths = [
        ("node1_pod_cidr", n1.pod_cidr, 1),
        ("node2_pod_cidr", n2.pod_cidr, 1),
        ("node1_gateway", gateway["local"], 1),
        ("route_to_node2_pods", peer_route["gateway"], 2),
        ("node1_underlay_ip", next(a["local"] for a in eth0 if a["family"] == "inet"), 2),
        ("masquerade_source", egress, 3),
    ]
    for key, truth, hint in truths:
        with c.step(f"{key} is right", hint=hint):
            given = str(answers.get(key, "")).strip()
            c.expect(given, f"{key} is still empty")
            c.expect(_same(given, truth), f"{key} = {given!r} is not what the lab says")
