"""What a troubleshooting step's file gets: the lab, seen and repaired as by hand.

A student's `diagnose(lab)` and `fix(lab)` (and the reference solutions) receive a
`TroubleLab`: the same targets as `cnilab exec` (a node, a pod, `internet`), read with
`ip -j` and `nft -j` as the student reads them, changed through pyroute2, sysctls and
nft's JSON, never through a shell.

The check runs the student's file in a child process (`python -m
lab.exercises.trouble_lab FILE STATE_DIR diagnose|fix`): their code runs as root, and
a crash or an `exit()` of theirs must become a FAIL, not take the checker down.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from lab.cluster.plan import Plan, load_plan
from lab.kernel.netns import in_netns, iproute_in
from lab.kernel.nftables import run_nft
from lab.kernel.sysctl import read_sysctl, write_sysctl

ANSWER_KEYS = ("fault", "node", "object")


class TroubleLab:
    """The lab by the names the student uses: node1, t10-a, internet, underlay."""

    def __init__(self, plan: Plan, pods: dict[str, str]) -> None:
        self.plan = plan
        self.pods = dict(pods)  # the step's pods: name -> node

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.plan.nodes]

    def netns(self, target: str) -> str:
        if target in self.nodes:
            return self.plan.node(target).netns
        if target in ("internet", "underlay"):
            return self.plan.internet_netns if target == "internet" else self.plan.underlay_netns
        if target in self.pods:
            return self.plan.pod_netns(target)
        raise ValueError(f"no node, step pod or lab namespace named {target!r}")

    def node_of(self, pod: str) -> str:
        return self.pods[pod]

    def run(self, target: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        """`cnilab exec TARGET -- ARGV...`, returning the finished process."""
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.netns(target)}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ip(self, target: str, *argv: str) -> list[dict[str, Any]]:
        """`ip -j -d ARGV...` in TARGET, parsed (an empty list when it prints nothing)."""
        out = self.run(target, "ip", "-j", "-d", *argv).stdout
        try:
            found = json.loads(out or "[]")
        except ValueError:
            return []
        return found if isinstance(found, list) else []

    def nft_ruleset(self, target: str) -> list[dict[str, Any]]:
        """`nft -j list ruleset` in TARGET: its tables, chains and rules, without metainfo."""
        out = self.run(target, "nft", "-j", "list", "ruleset").stdout
        items = json.loads(out or '{"nftables": []}').get("nftables", [])
        return [item for item in items if "metainfo" not in item]

    def nft(self, target: str, commands: list[dict[str, Any]]) -> None:
        """Apply an nft JSON batch in TARGET (all of it or nothing)."""
        with in_netns(f"/run/netns/{self.netns(target)}"):
            run_nft(commands)

    def sysctl(self, target: str, key: str, value: str | None = None) -> str:
        """Read (and with `value`, first write) a network sysctl of TARGET."""
        with in_netns(f"/run/netns/{self.netns(target)}"):
            if value is not None:
                write_sysctl(key, value)
            return read_sysctl(key)

    @contextmanager
    def iproute(self, target: str) -> Iterator[Any]:
        """A pyroute2 IPRoute living in TARGET's namespace."""
        with iproute_in(f"/run/netns/{self.netns(target)}") as (ipr, _):
            yield ipr

    def host_end(self, pod: str) -> dict[str, Any] | None:
        """The node-side end of the pod's eth0 veth (found by its peer index)."""
        eth0 = self.ip(pod, "link", "show", "eth0")
        if not eth0 or "link_index" not in eth0[0]:
            return None
        for link in self.ip(self.node_of(pod), "link"):
            if link.get("ifindex") == eth0[0]["link_index"]:
                return link
        return None


def _load(file: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("student_trouble", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answer_of(module: ModuleType, lab: TroubleLab) -> dict[str, Any]:
    """`diagnose(lab)` when the file has one, else its FAULT, NODE and OBJECT."""
    diagnose = getattr(module, "diagnose", None)
    if callable(diagnose):
        found = diagnose(lab)
        return found if isinstance(found, dict) else {"error": f"diagnose returned {found!r}"}
    return {key: getattr(module, key.upper(), "") for key in ANSWER_KEYS}


def main(argv: list[str]) -> int:
    """The child process: print the answer as JSON, or run `fix`; exit 3 when it has none."""
    file, state_dir, action = Path(argv[0]), argv[1], argv[2]
    plan = load_plan(state_dir)
    if plan is None:
        print("no lab is up", file=sys.stderr)
        return 2
    from lab.exercises.trouble import read_record  # the record names the step's pods

    record = read_record(plan)
    pods = record.pods if record is not None else {}
    lab = TroubleLab(plan, pods)
    module = _load(file)
    if action == "diagnose":
        print(json.dumps(answer_of(module, lab), default=str))
        return 0
    fix = getattr(module, "fix", None)
    if not callable(fix):
        return 3
    fix(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
