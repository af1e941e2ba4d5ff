"""Step 3: the student's functions, run inside node1 as a runtime there would, drive
the reference bridge plugin, then pycni. Values are compared, not keys; a call is made
to fail on purpose; the pod's address, its gateway and its default route are read
back from the kernel, and host-local's reservation from the student's data dir."""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from lab.exercises.checker import Checker

NETWORK, BRIDGE, SUBNET = "ex03net", "ex03br", "10.99.33.0/28"  # not the lesson's values
GATEWAY = "10.99.33.1"


def _run(c: Checker, fn: str, *args: Any) -> Any:
    """The student's `fn(*args)`, run in node1's namespace as a runtime there would."""
    run = c.run_function(fn, *args, netns=c.plan.node("node1").netns)
    c.expect(run.ok, f"your {fn} failed: {run.error}")
    return run.answer


def _call(c: Checker, plugin: str, env: dict, conf: dict) -> tuple[int, dict]:
    value = _run(c, "call", plugin, env, conf)
    c.expect(
        isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict),
        f"call must return (exit code, answer dict), got {str(value)[:120]}",
    )
    return value[0], value[1]


def _kernel(c: Checker, netns: str, *argv: str) -> list[dict[str, Any]]:
    try:
        out = json.loads(c.sh(netns, "ip", "-j", *argv).stdout or "[]")
    except ValueError:
        return []
    return out if isinstance(out, list) else []


def _inet(c: Checker, netns: str, dev: str) -> list[str]:
    links = _kernel(c, netns, "addr", "show", "dev", dev)
    infos = [a for link in links for a in link.get("addr_info", []) if a.get("family") == "inet"]
    return [f"{a['local']}/{a['prefixlen']}" for a in infos]


def _default_via(c: Checker, netns: str) -> str:
    routes = _kernel(c, netns, "route", "show", "default")
    return str(routes[0].get("gateway", "")) if routes else ""


def _tidy_node1(c: Checker) -> None:
    """Remove the check's bridge and any address of its subnet (a config naming cni0
    would have put the gateway there): bridge's DEL leaves both."""
    with IPRoute(netns=c.plan.node("node1").netns, flags=0) as ipr:
        for index in ipr.link_lookup(ifname=BRIDGE):
            ipr.link("del", index=index)
        for a in ipr.get_addr(family=2):
            local = a.get_attr("IFA_LOCAL")
            if local and ip_address(local) in ip_network(SUBNET):
                ipr.addr("del", index=a["index"], address=local, prefixlen=a["prefixlen"])


def check(c: Checker) -> None:
    path = f"{c.plan.bin_dir}:/usr/lib/cni"
    _tidy_node1(c)  # a run that was killed may have left them
    probe = c.empty_netns("probe")
    with c.step("cni_env gives each CNI_* variable its own value", hint=1):
        want = {
            "CNI_COMMAND": "CHECK",
            "CNI_CONTAINERID": "ex03-probe-5e1f",
            "CNI_NETNS": f"/run/netns/{probe}",
            "CNI_IFNAME": "net1",
            "CNI_PATH": path,
        }
        env = _run(c, "cni_env", *want.values())
        c.expect(isinstance(env, dict), f"cni_env must return a dict, got {str(env)[:80]}")
        for key, value in want.items():
            c.expect(key in env, f"{key} is missing from cni_env's answer")
            c.expect(env[key] == value, f"{key} should be {value!r}, yours is {env[key]!r}")

    bridge = f"{c.plan.bin_dir}/bridge"
    with c.step("call runs a plugin with that env and stdin, and reads its answer", hint=3):
        version_env = _run(c, "cni_env", "VERSION", "", "", "", path)
        code, answer = _call(c, bridge, version_env, {"cniVersion": "1.0.0"})
        c.expect(code == 0, f"bridge VERSION exited {code}: {answer}")
        c.expect("1.0.0" in answer.get("supportedVersions", []), f"bridge answered {answer}")

    data_dir = str(c.tempdir())
    conf = _run(c, "bridge_config", NETWORK, BRIDGE, SUBNET, data_dir)
    with c.step("call reports a failure: the exit code and the error object", hint=4):
        gone = f"/run/netns/{c.plan.prefix}-ex03-not-there"
        code, answer = _call(
            c, bridge, _run(c, "cni_env", "ADD", "ex03-x", gone, "eth0", path), conf
        )
        c.expect(code != 0, f"an ADD into a missing netns must fail, call returned {code}")
        c.expect(
            isinstance(answer.get("code"), int) and answer.get("msg"),
            f"call must return the plugin's error object (code and msg), got {answer}",
        )

    pod = c.empty_netns("bridge")
    add_env = _run(c, "cni_env", "ADD", "ex03-bridge", f"/run/netns/{pod}", "eth0", path)
    try:
        _bridge_steps(c, conf, add_env, pod, data_dir)
    finally:  # whatever failed: release host-local's address and any gateway it placed
        c.call("DEL", conf, container_id="ex03-bridge", netns=pod, binary="bridge")
        _tidy_node1(c)
    _pycni_steps(c, path)


def _bridge_steps(c: Checker, conf: dict, env: dict, pod: str, data_dir: str) -> None:
    bridge = f"{c.plan.bin_dir}/bridge"
    with c.step("the reference bridge plugin accepts your config and answers a result", hint=2):
        code, answer = _call(c, bridge, env, conf)
        c.expect(code == 0, f"bridge exited {code}: {answer.get('msg', answer)}")
        c.expect(answer.get("ips"), f"no ips in bridge's answer: {answer}")

    with c.step(f"the pod's eth0 has an address of {SUBNET}, its bridge the gateway", hint=2):
        mine = _inet(c, pod, "eth0")
        c.expect(mine, "the pod has no IPv4 address on eth0")
        c.expect(ip_interface(mine[0]).network == ip_network(SUBNET), f"eth0 has {mine[0]}")
        on_bridge = _inet(c, c.plan.node("node1").netns, BRIDGE)
        c.expect(on_bridge, f"node1 has no bridge {BRIDGE} with an address")
        c.expect(f"{GATEWAY}/28" in on_bridge, f"{BRIDGE} holds {on_bridge}, not {GATEWAY}/28")

    with c.step(f"the pod's default route goes via {GATEWAY}", hint=2):
        via = _default_via(c, pod)
        c.expect(via == GATEWAY, f"the pod's default route is via {via or 'nothing'}")

    with c.step("host-local keeps the reservation in your data dir", hint=2):
        address = str(ip_interface(_inet(c, pod, "eth0")[0]).ip)
        c.expect(
            Path(data_dir, NETWORK, address).is_file(),
            f"no reservation of {address} under {data_dir}/{NETWORK}: was dataDir passed on?",
        )

    with c.step("DEL through your functions succeeds and releases it all", hint=3):
        code, answer = _call(c, bridge, {**env, "CNI_COMMAND": "DEL"}, conf)
        c.expect(code == 0, f"DEL exited {code}: {answer}")
        c.expect(answer == {}, f"DEL prints nothing; call should return an empty dict: {answer}")
        c.expect(not _inet(c, pod, "eth0"), "eth0 is still there after DEL")
        c.expect(not Path(data_dir, NETWORK, address).exists(), f"{address} is still reserved")


def _pycni_steps(c: Checker, path: str) -> None:
    node = c.plan.node("node1")
    pod = c.empty_netns("pycni")
    env = _run(c, "cni_env", "ADD", "ex03-pycni", f"/run/netns/{pod}", "eth0", path)
    conf = c.node_conf("node1")
    pycni = f"{c.plan.bin_dir}/pycni"
    with c.step("the same functions drive pycni with node1's own config", hint=3):
        try:
            code, answer = _call(c, pycni, env, conf)
            c.expect(code == 0, f"pycni exited {code}: {answer.get('msg', answer)}")
            mine = _inet(c, pod, "eth0")
            c.expect(mine, "pycni gave the pod no IPv4 address on eth0")
            c.expect(
                ip_interface(mine[0]).ip in ip_network(node.pod_cidr),
                f"eth0 has {mine[0]}, not an address of node1's {node.pod_cidr}",
            )
            c.expect(_default_via(c, pod) == node.gateway, f"no default route via {node.gateway}")
        finally:
            c.call("DEL", conf, container_id="ex03-pycni", netns=pod, binary="pycni")
