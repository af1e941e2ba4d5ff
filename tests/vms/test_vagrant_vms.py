"""The Vagrant lab on two real VMs (QEMU TCG): provision.sh as Vagrant runs it, real
systemd, two kernels with their own clocks. Each check looks at what a user would see."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.checkplace import CHECK_LAB_DIR, CHECK_LAB_PREFIX
from vms.cluster import CLOCK_OFFSETS, WEB_PORT, VagrantLab

ROOT = Path(__file__).resolve().parents[2]
UNITS = ["cnilab-node", "pycni-daemon", "cnilab-agent"]


def sh(lab: VagrantLab, node: str, *argv: str, timeout: float = 120) -> str:
    return lab.run(node, list(argv), timeout=timeout).check().stdout


def web_token(lab: VagrantLab) -> str:
    env = sh(lab, "node1", "/bin/cat", "/etc/cnilab/web.env")
    return re.search(r"^CNILAB_TOKEN=(\S+)$", env, re.M).group(1)  # type: ignore[union-attr]


def web(
    lab: VagrantLab,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = "",
    wait: int = 90,
) -> tuple[int, Any]:
    """A request to node1's forwarded port, from inside the test's namespace (as the host's
    browser reaches 127.0.0.1:8080); token "" means the real one, None none at all."""
    token = web_token(lab) if token == "" else token
    argv = ["ip", "netns", "exec", lab.netns, "curl", "-sS", "-m", str(wait), "-X", method,
            "-o", "-", "-w", "\n%{http_code}"]  # fmt: skip
    if token is not None:
        argv += ["-H", f"X-Cnilab-Token: {token}"]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    out = subprocess.run([*argv, f"http://127.0.0.1:{WEB_PORT}{path}"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    text, _, code = out.rpartition("\n")
    try:
        return int(code), json.loads(text)
    except json.JSONDecodeError:
        return int(code), text


def wait_for(what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(3)
    raise AssertionError(f"{what}: not after {timeout} s (last: {last!r})")


def add_pod(lab: VagrantLab, node: str, name: str) -> str:
    out = sh(lab, node, "/usr/local/bin/cnilab", "node", "pod", "add", name, timeout=180)
    return re.search(r"pod \S+: ([0-9.]+)/", out).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def pods(lab: VagrantLab) -> dict[str, str]:
    return {"web": add_pod(lab, "node1", "web"), "db": add_pod(lab, "node2", "db")}


def units_active(lab: VagrantLab) -> None:
    for node in lab.machines:
        units = UNITS + (["cnilab-web"] if lab.vagrantfile.node(node).web else [])
        state = lab.run(node, ["/usr/bin/systemctl", "is-active", *units])
        assert state.stdout.split() == ["active"] * len(units), (node, state)
        enabled = lab.run(node, ["/usr/bin/systemctl", "is-enabled", *units])
        assert enabled.stdout.split() == ["enabled"] * len(units), (node, enabled)
    # node2 runs no web app: the Vagrantfile gives --web to node1 only
    assert lab.run("node2", ["/usr/bin/systemctl", "is-active", "cnilab-web"]).returncode != 0


def test_the_units_are_active_and_enabled(lab: VagrantLab) -> None:
    units_active(lab)


def ping_across(lab: VagrantLab, src_node: str, src: str, dst_ip: str) -> None:
    out = sh(lab, src_node, "/usr/bin/ip", "netns", "exec", f"cnilab-{src}",
             "/usr/bin/ping", "-c", "2", "-W", "10", dst_ip)  # fmt: skip
    assert re.findall(r"ttl=(\d+)", out) == ["62", "62"], out


def test_pods_ping_across_the_private_network_with_ttl_62(
    lab: VagrantLab, pods: dict[str, str]
) -> None:
    assert pods["web"].startswith("10.244.0.") and pods["db"].startswith("10.244.1.")
    route = sh(lab, "node1", "/usr/bin/ip", "route", "get", pods["db"])
    assert "via 192.168.56.12 dev eth1" in route, route
    ping_across(lab, "node1", "web", pods["db"])
    ping_across(lab, "node2", "db", pods["web"])


def test_egress_leaves_through_the_nat_adapter_masqueraded(
    lab: VagrantLab, pods: dict[str, str]
) -> None:
    agent = lab.machines["node1"].agent
    # capture on the NAT adapter while the pod pings the NAT's gateway (the "internet" here)
    pid = agent.call("guest-exec", path="/usr/bin/timeout",
                     arg=["60", "/usr/bin/tcpdump", "-n", "-l", "-i", "eth0", "-c", "2", "icmp"],
                     **{"capture-output": True})["pid"]  # fmt: skip
    # ping until tcpdump has its two packets (it may start listening late under TCG)
    replies = 0
    for _ in range(30):
        status = agent.call("guest-exec-status", pid=pid)
        if status.get("exited"):
            break
        ping = lab.run("node1", ["/usr/bin/ip", "netns", "exec", "cnilab-web",
                                 "/usr/bin/ping", "-c", "1", "-W", "5", "10.0.2.2"])  # fmt: skip
        replies += ping.returncode == 0
    assert status.get("exited") and status.get("exitcode") == 0, status  # not timeout's 124
    assert replies > 0  # the NAT answered the pod: the way back is de-masqueraded too
    seen = base64.b64decode(status.get("out-data", "")).decode()
    assert "10.0.2.15 > 10.0.2.2: ICMP echo request" in seen, seen
    assert pods["web"] not in seen and "10.244." not in seen, seen


def merged(lab: VagrantLab) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        try:
            code, data = web(lab, "GET", "/api/topology")
        except subprocess.CalledProcessError:  # after a reboot: active, not yet listening
            return None
        agents = data.get("graph", {}).get("agents", []) if code == 200 else []
        return data if [a.get("ok") for a in agents] == [True, True] else None

    return wait_for("both agents in the graph", ready)


def test_the_web_app_on_node1_merges_both_agents(lab: VagrantLab, pods: dict[str, str]) -> None:
    def both_pods() -> dict[str, Any] | None:
        data = merged(lab)
        return data if {"web", "db"} <= pod_labels(data).keys() else None

    data = wait_for("both pods in the graph", both_pods)
    assert pod_labels(data) == {"web": "node1", "db": "node2"}
    kinds = {(n["node"], n["kind"]) for n in data["nodes"] if n["type"] == "namespace"}
    assert {("node1", "node"), ("node2", "node")} <= kinds
    code, _ = web(lab, "GET", "/api/topology", token=None)
    assert code in (401, 403)


def pod_labels(data: dict[str, Any]) -> dict[str, str]:
    return {
        n["label"]: n["node"]
        for n in data.get("nodes", [])
        if n.get("type") == "namespace" and n.get("kind") == "pod"
    }


def test_a_cross_node_trace_with_the_clocks_seconds_apart(
    lab: VagrantLab, pods: dict[str, str]
) -> None:
    clocks = {n: float(sh(lab, n, "/bin/date", "+%s.%N")) for n in ("node1", "node2")}
    apart = clocks["node2"] - clocks["node1"]
    want = CLOCK_OFFSETS["node2"] - CLOCK_OFFSETS["node1"]
    assert want - 3 < apart < want + 3, clocks
    merged(lab)
    code, t = web(lab, "POST", "/api/trace", {"src": "web", "dst": "db"})
    assert code == 200, t
    assert t["replied"], t
    request = [h for h in t["hops"] if h["leg"] == "request"]
    assert [h["node"] for h in request] == ["node1"] * 4 + ["node2"] * 4, request
    assert [h["ttl"] for h in request] == [64, 64, 64, 63, 63, 62, 62, 62], request
    assert [h["ms"] for h in t["hops"]] == sorted(h["ms"] for h in t["hops"])
    offsets = {a["name"]: a["offset_ms"] for a in t["agents"]}
    assert abs(offsets["node2"] - offsets["node1"] - want * 1000) < 3000, offsets


def test_the_agents_speak_tls_and_want_signed_requests(lab: VagrantLab) -> None:
    url = "https://192.168.56.12:8081/v1/snapshot"
    unsigned = lab.run("node1", ["/usr/bin/curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                 "-m", "30", url])  # fmt: skip
    assert unsigned.stdout == "401", unsigned
    token = sh(lab, "node1", "/bin/cat", "/etc/cnilab/agent.token").strip()
    bearer = lab.run("node1", ["/usr/bin/curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                               "-m", "30", "-H", f"X-Cnilab-Token: {token}", url])  # fmt: skip
    assert bearer.stdout == "401", bearer  # the token itself never travels
    plain = lab.run("node1", ["/usr/bin/curl", "-s", "-m", "30", "http://192.168.56.12:8081/"])
    assert plain.returncode != 0 or "HTTP" not in plain.stdout
    cert = lab.run("node1", ["/usr/bin/openssl", "s_client", "-connect", "192.168.56.12:8081"],
                   timeout=60)  # fmt: skip
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", cert.stdout, re.S)
    assert pem, cert
    served = (
        lab.machines["node1"]
        .agent.run(
            ["/usr/bin/openssl", "x509", "-noout", "-fingerprint", "-sha256"],
            stdin=pem.group(0).encode(),
        )
        .check()
    )
    pinned = sh(lab, "node1", "/bin/cat", "/etc/cnilab/agent-node2.fingerprint").strip()
    assert fingerprint(served.stdout) == pinned  # what node2 serves is what node1's app pins
    installed = sh(lab, "node2", "/usr/bin/openssl", "x509", "-noout", "-fingerprint", "-sha256",
                   "-in", "/var/lib/cnilab/agent/agent.crt")  # fmt: skip
    assert fingerprint(installed) == pinned == lab.fingerprints["node2"]
    mode = sh(lab, "node2", "/usr/bin/stat", "-c", "%a", "/etc/cnilab/agent.token",
              "/var/lib/cnilab/agent/agent.key")  # fmt: skip
    assert mode.split() == ["600", "600"]


def fingerprint(openssl_out: str) -> str:
    return openssl_out.split("=", 1)[1].strip().replace(":", "").lower()


def test_the_course_page_is_served_with_terminals_on_both_nodes(
    lab: VagrantLab, pods: dict[str, str]
) -> None:
    assert (WEB_PORT, WEB_PORT) in lab.vagrantfile.forwards
    code, page = web(lab, "GET", "/exercises/")
    assert code == 200 and "<html" in page.lower(), page[:300]
    code, listing = web(lab, "GET", "/api/exercises")
    assert code == 200 and listing["exercises"], listing
    code, terminal = web(lab, "GET", "/api/terminal")
    assert code == 200 and terminal["enabled"], terminal
    assert (terminal["port"], terminal["port"]) in lab.vagrantfile.forwards
    ids = [t["id"] for t in terminal["targets"]]
    assert "node:node1" in ids and "node:node2" in ids, ids  # node2's through its agent
    assert any(i.startswith("pod:node1/") and "web" in i for i in ids), ids
    assert any(i.startswith("pod:node2/") and "db" in i for i in ids), ids


def terminal(lab: VagrantLab, target: str, command: str) -> dict[str, Any]:
    """A shell the page would open on `target`, through node1's forwarded terminal port."""
    code, info = web(lab, "GET", "/api/terminal")
    assert code == 200 and info["enabled"], info
    uri = f"ws://127.0.0.1:{info['port']}/terminal?token={web_token(lab)}&target={target}"
    argv = ["ip", "netns", "exec", lab.netns, sys.executable, "-m", "tests.vms.terminal_probe",
            uri, f"http://127.0.0.1:{WEB_PORT}", command]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_terminal_on_node2_runs_there_through_its_agent(lab: VagrantLab) -> None:
    seen = terminal(lab, "node:node2", "hostname; cat /proc/sys/kernel/hostname")
    lines = [x.strip() for x in seen["output"].splitlines()]
    assert lines.count("node2") >= 2, seen  # the VM's own name, from its own kernel
    assert "node1" not in lines, seen


def told(lab: VagrantLab, event: dict[str, Any]) -> str:
    """The tail of the VM's file an error names ("see /run/..."), for the failure report."""
    found = re.search(r"see (/\S+)", str(event.get("error", "")))
    if not found:
        return ""
    return lab.run("node1", ["/usr/bin/tail", "-n", "30", found.group(1)], timeout=60).stdout


def test_a_check_runs_in_an_embedded_lab_inside_node1(lab: VagrantLab) -> None:
    """The Check button's stream: where it runs (said first), the lab made inside node1,
    the reference solution's verdict; the VMs' graph never shows that lab."""
    code, text = web(lab, "POST", "/api/editor/bridge/check", {"which": "solution"}, wait=900)
    assert code == 200, text
    assert isinstance(text, str), text  # lines of JSON, not one document
    where, *rest = [json.loads(x) for x in text.splitlines() if x.strip()]
    assert where["event"] == "where" and where["kind"] == "node-lab", where
    assert where["node"] == "node1" and "inside node1" in where["text"], where
    report = rest[-1]
    assert report["event"] == "report" and report["passed"] is True, (rest[-3:], told(lab, report))
    assert any(x["event"] == "assertion" for x in rest), rest
    netns = sh(lab, "node1", "/usr/bin/ip", "netns", "list")
    assert CHECK_LAB_PREFIX in netns, netns  # the check's lab, kept for the next check
    names = [str(n.get("id")) for n in merged(lab)["nodes"]]
    assert names and not [n for n in names if CHECK_LAB_PREFIX in n], names
    # node1's shells point `cnilab` at that lab (status names no prefix: the env does)
    where = 'echo "lab=$CNILAB_PREFIX:$CNILAB_STATE_DIR"'
    shell = terminal(lab, "node:node1", f"{where}; cnilab status")
    assert f"lab={CHECK_LAB_PREFIX}:{CHECK_LAB_DIR}" in shell["output"], shell
    assert "daemon up" in shell["output"], shell  # the lab's status, not "no lab is up"


def test_a_reboot_of_both_brings_everything_back(lab: VagrantLab) -> None:
    lab.reboot()
    units_active(lab)
    for node in ("node1", "node2"):
        addr = sh(lab, node, "/usr/bin/ip", "-br", "addr", "show", "cni0")
        assert ("10.244.0.1/24" if node == "node1" else "10.244.1.1/24") in addr, addr
    again = {"web2": add_pod(lab, "node1", "web2"), "db2": add_pod(lab, "node2", "db2")}
    ping_across(lab, "node1", "web2", again["db2"])
    wait_for("the new pods in the graph",
             lambda: {"web2", "db2"} <= pod_labels(merged(lab)).keys())  # fmt: skip
