"""Step 4: the IPAM plugin, called by hand as pycni would call it (SPEC section 4)."""

from __future__ import annotations

import fcntl
import json
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path

from lab.cni.invoke import Execution
from lab.exercises.checker import Checker

SMALL = "10.99.4.0/27"  # .1 is the gateway, .31 the broadcast: 29 addresses to give
BIG = "10.99.5.0/24"


def _conf(data_dir: str, subnet: str, name: str) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "type": "pycni",
        "ipam": {"type": "student-ipam", "subnet": subnet, "dataDir": data_dir},
    }


def _add(c: Checker, conf: dict, cid: str, netns: str) -> str | None:
    """The address handed out, or None when the plugin answered an error."""
    ex = c.call("ADD", conf, container_id=cid, netns=netns)
    if ex.returncode != 0:
        return None
    try:
        result = json.loads(ex.stdout)
        return str(ip_interface(result["ips"][0]["address"]).ip)
    except (ValueError, KeyError, IndexError):
        c.expect(False, f"ADD answered something that is not a result: {ex.stdout[:200]!r}")
    raise AssertionError


def _concurrent_adds(c: Checker, conf: dict, netns: str, count: int) -> list[str]:
    """`count` ADDs let loose at the same instant (see CNILAB_BARRIER in lab/runtime/student.py)."""
    barrier = Path(tempfile.mkdtemp(prefix="cnilab-ex04-")) / "barrier"
    barrier.touch()
    hold = {"CNILAB_BARRIER": str(barrier)}

    def add(i: int) -> Execution:
        return c.call("ADD", conf, container_id=f"race{i}", netns=netns, extra_env=hold)

    with open(barrier) as lock, ThreadPoolExecutor(max_workers=count) as pool:
        fcntl.flock(lock, fcntl.LOCK_EX)
        futures = [pool.submit(add, i) for i in range(count)]
        time.sleep(1.5)  # every process has started and is waiting at the barrier
        fcntl.flock(lock, fcntl.LOCK_UN)
        outs = [f.result().stdout for f in futures]
    addresses = []
    for out in outs:
        try:
            addresses.append(json.loads(out)["ips"][0]["address"])
        except (ValueError, KeyError, IndexError):
            addresses.append(f"error: {out[:80]!r}")
    return addresses


def check(c: Checker) -> None:
    data_dir = tempfile.mkdtemp(prefix="cnilab-ex04-")
    netns = c.empty_netns("ipam")
    conf = _conf(data_dir, SMALL, f"ex04-{uuid.uuid4().hex[:6]}")
    with c.step("ADD hands out an address of the subnet, with the gateway", hint=1):
        ex = c.call("ADD", conf, container_id="c00", netns=netns)
        c.expect(ex.returncode == 0, f"ADD failed: {ex.stdout[:300]!r}")
        result = json.loads(ex.stdout)
        first = ip_interface(result["ips"][0]["address"])
        c.expect(first.ip in ip_network(SMALL), f"{first} is not in {SMALL}")
        c.expect(result["ips"][0].get("gateway") == "10.99.4.1", "the gateway must be 10.99.4.1")

    with c.step("the next ADD remembers: a different address", hint=1):
        second = _add(c, conf, "c01", netns)
        c.expect(second and second != str(first.ip), f"got {second} twice")

    given = {str(first.ip), second}
    with c.step("never the network, the gateway or the broadcast address", hint=2):
        for i in range(2, 40):
            got = _add(c, conf, f"c{i:02d}", netns)
            if got is None:
                break
            c.expect(got not in given, f"{got} was handed out twice")
            given.add(got)
        forbidden = {"10.99.4.0", "10.99.4.1", "10.99.4.31"} & given
        c.expect(not forbidden, f"handed out {', '.join(sorted(forbidden))}")
        c.expect(len(given) == 29, f"a /27 has 29 addresses for pods, you gave {len(given)}")

    owner_of_2 = None
    with c.step("a full pool is an error, not a crash", hint=2):
        ex = c.call("ADD", conf, container_id="c99", netns=netns)
        c.expect(ex.returncode != 0, "the 30th ADD must fail: the pool is full")
        c.expect(json.loads(ex.stdout or "{}").get("code"), "the failure must be an error object")

    with c.step("DEL releases exactly one address (the bash plugin freed .20-.29 too)", hint=3):
        ex = c.call("ADD", conf, container_id="probe", netns=netns)  # still full
        owner_of_2 = "c00" if str(first.ip) == "10.99.4.2" else None
        c.expect(owner_of_2, "the first ADD should have handed out 10.99.4.2")
        ex = c.call("DEL", conf, container_id=owner_of_2, netns=netns)
        c.expect(ex.returncode == 0, f"DEL failed: {ex.stdout[:200]!r}")
        c.expect(_add(c, conf, "again1", netns) == "10.99.4.2", "after DEL, .2 should be free")
        extra = _add(c, conf, "again2", netns)
        c.expect(extra is None, f"DEL freed more than one address: {extra} was free again")

    with c.step("DEL of a container that holds nothing succeeds", hint=3):
        ex = c.call("DEL", conf, container_id="never-added", netns=netns)
        c.expect(ex.returncode == 0, "DEL must be idempotent: exit 0 when there is nothing")

    with c.step("24 ADDs at the same instant get 24 different addresses", hint=4):
        race = _conf(data_dir, BIG, f"ex04-race-{uuid.uuid4().hex[:6]}")
        addresses = _concurrent_adds(c, race, netns, 24)
        errors = [a for a in addresses if a.startswith("error")]
        c.expect(not errors, f"some ADDs failed: {errors[:2]}")
        dupes = sorted({a for a in addresses if addresses.count(a) > 1})
        c.expect(not dupes, f"handed out twice: {', '.join(dupes)}: the store needs a lock")
        c.expect(
            all(ip_address(a.split("/")[0]) in ip_network(BIG) for a in addresses), "bad address"
        )
