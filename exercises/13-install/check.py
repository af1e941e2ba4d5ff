"""Step 13: the student's `install(...)` puts their plugin (their step-6 ADD) on a node
of a throwaway lab, as a CNI's installer does: the executable into the node's CNI bin
dir, a network config into its conf dir.

The lab's own runtime then judges it the way containerd would: the first valid
config in lexical order wins (the node already holds the lab's 10-pycni.conflist, a
stale config whose plugin is gone and a broken file, all of which must be left as
they were), the config's `type` must be the executable's name (the plugin type is
chosen at random, so a copied name fails), its cniVersion one the plugin supports,
and a pod on node2 must get node2's address from the student's executable. A second
install must change nothing, and a type that is a path must be refused.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from lab.cluster.plan import Node, Plan
from lab.exercises.checker import Checker
from lab.exercises.student_call import FunctionRun
from lab.runtime.confs import read_candidates, select_network
from lab.runtime.pods import Runtime

NODE = "node2"
DECOYS = {  # what a node's conf dir often holds besides the lab's own files
    "00-gone.conflist": json.dumps(
        {"cniVersion": "1.0.0", "name": "gone", "plugins": [{"type": "flannel"}]}
    ),
    "01-broken.conf": '{"cniVersion": "1.0.0", "name": "broken", "type": ',
}
BAD_TYPE = "../escape"


def run_install(c: Checker, lab: Plan, node: Node, plugin: Path, plugin_type: str) -> FunctionRun:
    facts = {"name": node.name, "pod_cidr": node.pod_cidr, "ipam_dir": node.ipam_dir}
    args = [str(plugin), plugin_type, facts, lab.bin_dir, node.conf_dir, sys.executable]
    return c.run_function("install", *args)


def files(folder: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def candidates_text(conf_dir: str, path: list[str]) -> str:
    shown = []
    for found in read_candidates(conf_dir, path):
        name = found.network.name if found.network else ""
        shown.append(f"{found.path.name}: {found.problem or f'valid, network {name!r}'}")
    return "; ".join(shown)


def check(c: Checker) -> None:
    plugin = c.earlier("add")
    plugin_type = f"cni-{secrets.token_hex(3)}"
    with c.scratch_lab(nodes=2, bare=frozenset()) as lab:
        node = lab.node(NODE)
        path = [lab.bin_dir]
        for name, text in DECOYS.items():
            Path(node.conf_dir, name).write_text(text)
        before = files(node.conf_dir)
        with c.step(f"install({plugin_type!r}, ...) for {NODE} runs", hint=1):
            done = run_install(c, lab, node, plugin, plugin_type)
            c.expect(done.ok, f"install for {NODE} failed: {done.error}")
        with c.step(f"the executable {plugin_type} is in the bin dir, and runs", hint=2):
            expect_executable(c, lab, plugin_type)
        with c.step("the node's other configs are left exactly as they were", hint=4):
            now = files(node.conf_dir)
            changed = [n for n, data in before.items() if now.get(n) != data]
            c.expect(not changed, f"your install changed or removed {', '.join(changed)}")
        with c.step("your config is one file the runtime can use", hint=3):
            mine = expect_one_config(c, node, before, path)
        with c.step("the runtime picks your config: the first usable in lexical order", hint=4):
            chosen = select_network(node.conf_dir, path)
            c.expect(
                chosen.name == mine.network.name,
                f"the runtime picked network {chosen.name!r}, not yours ({mine.path.name}): "
                f"it reads {candidates_text(node.conf_dir, path)}",
            )
        with c.step("your config's type names your executable, at a version it speaks", hint=3):
            expect_type_and_version(c, lab, mine.network, plugin_type)
        with c.step(f"a pod on {NODE} gets {node.pod_cidr} from your executable", hint=5):
            expect_pod(c, lab, node, plugin_type)
        with c.step("a second install changes nothing", hint=4):
            was = files(node.conf_dir), Path(lab.bin_dir, plugin_type).read_bytes()
            again = run_install(c, lab, node, plugin, plugin_type)
            c.expect(again.ok, f"the second install failed: {again.error}")
            now = files(node.conf_dir), Path(lab.bin_dir, plugin_type).read_bytes()
            c.expect(now == was, f"the second install changed {diff(was[0], now[0])}")
        with c.step(f"a plugin type {BAD_TYPE!r} is refused, and nothing is written", hint=6):
            expect_refusal(c, lab, node, plugin)


def diff(was: dict[str, bytes], now: dict[str, bytes]) -> str:
    names = sorted(n for n in was.keys() | now.keys() if was.get(n) != now.get(n))
    return ", ".join(names) or "the executable"


def expect_executable(c: Checker, lab: Plan, plugin_type: str) -> None:
    exe = Path(lab.bin_dir, plugin_type)
    c.expect(exe.is_file(), f"there is no file {plugin_type} in the bin dir {lab.bin_dir}")
    c.expect(
        exe.stat().st_mode & 0o111,
        f"{exe.name} is not executable (its mode is {oct(exe.stat().st_mode & 0o777)})",
    )
    ran = c.call("VERSION", {"cniVersion": "1.1.0"}, binary=plugin_type, node=NODE, lab=lab)
    answer = c.result_of(ran, f"{plugin_type} VERSION")
    c.expect(
        isinstance(answer.get("supportedVersions"), list),
        f"{plugin_type} VERSION answered {answer}, not its supportedVersions",
    )


def expect_one_config(c: Checker, node: Node, before: dict[str, bytes], path: list[str]) -> Any:
    new = [n for n in files(node.conf_dir) if n not in before]
    c.expect(new, f"no new file in the node's conf dir {node.conf_dir}")
    c.expect(len(new) == 1, f"one config is enough, you wrote {len(new)}: {', '.join(new)}")
    mine = next((x for x in read_candidates(node.conf_dir, path) if x.path.name == new[0]), None)
    c.expect(mine, f"the runtime never reads {new[0]}: only .conflist, .conf and .json files")
    assert mine is not None
    c.expect(mine.network is not None, f"the runtime skips your {new[0]}: {mine.problem}")
    return mine


def expect_type_and_version(c: Checker, lab: Plan, network: Any, plugin_type: str) -> None:
    types = [str(p.get("type")) for p in network.plugins]
    c.expect(
        types == [plugin_type],
        f"your config's plugins have type {types}: the runtime runs the executable of that "
        f"name, and yours is {plugin_type}",
    )
    ran = c.call(
        "VERSION", {"cniVersion": network.cni_version}, binary=plugin_type, node=NODE, lab=lab
    )
    spoken = c.result_of(ran, f"{plugin_type} VERSION").get("supportedVersions", [])
    c.expect(
        network.cni_version in spoken,
        f"your config asks for cniVersion {network.cni_version!r}; your plugin speaks {spoken}",
    )


def expect_pod(c: Checker, lab: Plan, node: Node, plugin_type: str) -> None:
    pod = Runtime(lab).add(c.pod_name("b"), node.name)
    address = ipaddress.ip_interface(pod.addresses()[0])
    c.expect(
        address.ip in ipaddress.ip_network(node.pod_cidr),
        f"the pod on {node.name} got {address}, outside {node.name}'s pod CIDR {node.pod_cidr}",
    )
    calls = [json.loads(line) for line in Path(lab.journal).read_text().splitlines()]
    ran = [
        r["plugin"]
        for r in calls
        if r["container_id"] == pod.container_id and r["command"] == "ADD"
    ]
    c.expect(plugin_type in ran, f"the runtime ran {ran} for the pod, not your {plugin_type}")


def expect_refusal(c: Checker, lab: Plan, node: Node, plugin: Path) -> None:
    was = files(node.conf_dir), sorted(p.name for p in Path(lab.bin_dir).parent.iterdir())
    done = run_install(c, lab, node, plugin, BAD_TYPE)
    c.expect(
        not done.ok and done.kind.endswith("ValueError"),
        f"install must raise ValueError for plugin type {BAD_TYPE!r}: a type is a file name, "
        f"and this one writes outside the bin dir; {'it returned' if done.ok else done.error}",
    )
    now = files(node.conf_dir), sorted(p.name for p in Path(lab.bin_dir).parent.iterdir())
    c.expect(now == was, f"files were written before your code refused: {diff(was[0], now[0])}")
