"""Step 3: the student's functions drive the reference bridge, then pycni, on node1."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from lab.exercises.checker import Checker

DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("by_hand", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
job = json.loads(sys.stdin.read())
env = mod.cni_env(job["command"], job["cid"], job["netns"], "eth0", job["cni_path"])
conf = job.get("conf") or mod.bridge_config("ex03", "ex03br", "10.99.3.0/24", job["data_dir"])
code, answer = mod.call(job["plugin"], env, conf)
print(json.dumps({"env": env, "conf": conf, "code": code, "answer": answer}))
"""


def _run(c: Checker, job: dict) -> dict:
    """Import the student's file and call its functions inside node1, as a runtime there."""
    node = c.plan.node("node1")
    done = subprocess.run(
        ["nsenter", f"--net={node.netns_path}", "--", sys.executable, "-c", DRIVER, str(c.file)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    c.expect(done.returncode == 0, f"your functions raised: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout)


def _address(c: Checker, netns: str) -> str:
    info = json.loads(c.sh(netns, "ip", "-j", "addr", "show", "eth0").stdout or "[{}]")
    inet = [a["local"] for a in info[0].get("addr_info", []) if a["family"] == "inet"]
    return inet[0] if inet else ""


def check(c: Checker) -> None:
    data_dir = tempfile.mkdtemp(prefix="cnilab-ex03-")
    netns = c.empty_netns("bridge")
    job = {
        "command": "ADD",
        "cid": "ex03-bridge",
        "netns": f"/run/netns/{netns}",
        "cni_path": c.plan.bin_dir,
        "data_dir": data_dir,
        "plugin": f"{c.plan.bin_dir}/bridge",
    }
    with c.step("cni_env gives the five CNI_* variables", hint=1):
        env = _run(c, {**job, "command": "VERSION", "plugin": "/bin/true"})["env"]
        for key in ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"):
            c.expect(key in env, f"{key} is missing from cni_env's answer")

    with c.step("the reference bridge plugin accepts your call and answers a result", hint=2):
        out = _run(c, job)
        c.expect(out["code"] == 0, f"bridge exited {out['code']}: {out['answer']}")
        c.expect(out["answer"].get("ips"), f"no ips in bridge's answer: {out['answer']}")

    with c.step("the pod namespace now has eth0 with an address of 10.99.3.0/24", hint=2):
        address = _address(c, netns)
        c.expect(address.startswith("10.99.3."), f"eth0 has {address or 'no address'}")

    with c.step("DEL through your functions removes it again", hint=3):
        out = _run(c, {**job, "command": "DEL"})
        c.expect(out["code"] == 0, f"DEL exited {out['code']}: {out['answer']}")
        c.expect(not _address(c, netns), "eth0 is still there after DEL")

    pycni = c.node_conf("node1")
    own = c.empty_netns("pycni")
    with c.step("the same functions drive pycni with node1's own config", hint=3):
        out = _run(
            c,
            {
                **job,
                "cid": "ex03-pycni",
                "netns": f"/run/netns/{own}",
                "plugin": f"{c.plan.bin_dir}/pycni",
                "conf": pycni,
            },
        )
        c.expect(out["code"] == 0, f"pycni exited {out['code']}: {out['answer']}")
        c.expect(
            _address(c, own).startswith(c.plan.node("node1").gateway.rsplit(".", 1)[0]),
            "pycni did not give eth0 an address of node1's pod CIDR",
        )
        _run(
            c,
            {
                **job,
                "command": "DEL",
                "cid": "ex03-pycni",
                "netns": f"/run/netns/{own}",
                "plugin": f"{c.plan.bin_dir}/pycni",
                "conf": pycni,
            },
        )
