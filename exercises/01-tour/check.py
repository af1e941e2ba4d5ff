"""Step 1: every answer is compared, as a value, with what the lab's kernel says now.

A CIDR must be a network (its host bits zero): `10.244.0.1/24` names the gateway with
its prefix, not a pod CIDR, and is refused with that reason. Keys the check does not
know are refused too, since a typo would otherwise read as an empty answer.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from typing import Any

from lab.exercises.checker import Checker

NETWORKS = ("node1_pod_cidr", "node2_pod_cidr", "pod_network")
ADDRESSES = ("node1_gateway", "route_to_node2_pods", "node1_underlay_ip", "masquerade_source")
HINTS = {"route_to_node2_pods": 2, "node1_underlay_ip": 3, "masquerade_source": 3}  # else 1
FILE_HINT = 4


def _answers(c: Checker) -> dict[str, Any]:
    try:
        answers = tomllib.loads(c.file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        c.expect(False, f"{c.file.name} is not valid TOML: {e}")
    unknown = sorted(set(answers) - set(NETWORKS) - set(ADDRESSES))
    c.expect(not unknown, f"{c.file.name} has keys the check does not know: {', '.join(unknown)}")
    return answers


def _kernel(c: Checker, netns: str, *argv: str) -> list[dict[str, Any]]:
    try:
        out = json.loads(c.sh(netns, "ip", "-j", *argv).stdout or "[]")
    except ValueError:
        out = []
    return out if isinstance(out, list) else []


def _inet(c: Checker, netns: str, dev: str) -> str:
    for link in _kernel(c, netns, "addr", "show", "dev", dev):
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                return str(a["local"])
    return ""


def _truths(c: Checker) -> dict[str, str]:
    """What the lab says, read from node1's kernel (the plan only for the cluster CIDR)."""
    n1, n2 = c.plan.node("node1"), c.plan.node("node2")
    routes = _kernel(c, n1.netns, "route")
    peer = next((r for r in routes if r.get("dst") == n2.pod_cidr and "gateway" in r), {})
    egress = _kernel(c, n1.netns, "route", "get", c.plan.internet_address)
    truths = {
        "node1_pod_cidr": n1.pod_cidr,
        "node2_pod_cidr": n2.pod_cidr,
        "pod_network": c.plan.pod_network,
        "node1_gateway": _inet(c, n1.netns, "cni0"),
        "route_to_node2_pods": str(peer.get("gateway", "")),
        "node1_underlay_ip": _inet(c, n1.netns, "eth0"),
        "masquerade_source": str(egress[0].get("prefsrc", "")) if egress else "",
    }
    missing = [k for k, v in truths.items() if not v]
    c.expect(
        not missing,
        f"the lab's kernel does not show {', '.join(missing)} (was it brought up with --bare?"
        " this tour needs the full lab: `cnilab down`, then `cnilab up`)",
    )
    return truths


def _wrong(key: str, given: str, truth: str) -> str:
    """Why `given` is not `truth`, or "" when it is right."""
    if key in NETWORKS:
        try:
            net = ipaddress.ip_network(given)
        except ValueError:
            try:
                host = ipaddress.ip_interface(given)
            except ValueError:
                return f"{key} = {given!r} is not a CIDR like 10.0.0.0/24"
            return (
                f"{key} = {given!r} is an address with its prefix length, not a network:"
                f" a CIDR's host bits are zero ({host.network} is the network it sits in)"
            )
        return "" if net == ipaddress.ip_network(truth) else f"{key} = {given!r} is not the lab's"
    if "/" in given:
        return f"{key} = {given!r}: write the address alone, without a /prefix"
    try:
        address = ipaddress.ip_address(given)
    except ValueError:
        return f"{key} = {given!r} is not an IPv4 address"
    return "" if address == ipaddress.ip_address(truth) else f"{key} = {given!r} is not the lab's"


def check(c: Checker) -> None:
    with c.step("the answers file is readable, with only the known keys", hint=FILE_HINT):
        answers = _answers(c)
    with c.step("the lab shows every fact asked for"):  # the lab's state, not the student's
        truths = _truths(c)
    for key in (*NETWORKS, *ADDRESSES):
        with c.step(f"{key} is right", hint=HINTS.get(key, 1)):
            value = answers.get(key, "")
            c.expect(isinstance(value, str), f"{key} must be a string in quotes, got {value!r}")
            given = value.strip()
            c.expect(given, f"{key} is still empty")
            problem = _wrong(key, given, truths[key])
            c.expect(not problem, problem)
