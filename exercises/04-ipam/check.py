"""Step 4: the IPAM plugin, called by hand as pycni would call it (SPEC section 4).

Each job of an allocator is tried by a teacher who knows how they go wrong: pools
filled to the last address, a release next to addresses sharing its prefix, a
container with two interfaces, a container in two networks, ADDs racing each other,
and DELs racing ADDs. Each network has its own data dir unless sharing one is the test.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_interface, ip_network
from pathlib import Path

from lab.cni.invoke import Execution
from lab.exercises.checker import Checker

SMALL = "10.99.4.0/27"  # .1 is the gateway, .31 the broadcast: 29 addresses to give
RACE = "10.99.5.0/24"
TWO_IFS = "10.99.6.0/29"  # 5 addresses: .2-.6
ONE = "10.99.7.0/30"  # a single address for pods: .2
OTHER = "10.99.9.0/29"
MIXED = "10.99.8.0/27"
RACE_ROUNDS = 2
INODE = re.compile(r" [0-9a-f]+:[0-9a-f]+:(\d+) ")


def _conf(c: Checker, subnet: str, data_dir: Path | None = None) -> dict:
    """A network of its own (name and, unless given, data dir) for `subnet`."""
    name = "ex04-" + subnet.split(".")[2]
    folder = data_dir or c.tempdir()
    ipam = {"type": "student-ipam", "subnet": subnet, "dataDir": str(folder)}
    return {"cniVersion": "1.0.0", "name": name, "type": "pycni", "ipam": ipam}


def _address(c: Checker, ex: Execution) -> str | None:
    """The address an ADD handed out, or None when it answered an error."""
    if ex.returncode != 0:
        return None
    result = c.result_of(ex)
    return str(ip_interface(c.result_field(result, "ips", 0, "address")).ip)


def _fill(c: Checker, conf: dict, netns: str, prefix: str, limit: int) -> list[str]:
    """ADD containers until the pool answers an error; the addresses they got."""
    given: list[str] = []
    for i in range(limit):
        got = _address(c, c.call("ADD", conf, container_id=f"{prefix}{i:02d}", netns=netns))
        if got is None:
            break
        given.append(got)
    return given


def _deleted(c: Checker, conf: dict, cid: str, netns: str, ifname: str = "eth0") -> None:
    ex = c.call("DEL", conf, container_id=cid, netns=netns, ifname=ifname)
    c.expect(ex.returncode == 0, f"DEL of {cid}/{ifname} failed: {ex.stdout[:200]!r}")


def _at_once(c: Checker, calls: list[Callable[[dict[str, str]], Execution]]) -> list[Execution]:
    """Every call started, then let into the student's code at the same instant: each
    waits on a barrier file the check holds locked (CNILAB_BARRIER, lab/runtime/student.py)."""
    barrier = c.tempdir() / "barrier"
    barrier.touch()
    hold = {"CNILAB_BARRIER": str(barrier)}
    with open(barrier) as lock, ThreadPoolExecutor(max_workers=len(calls)) as pool:
        fcntl.flock(lock, fcntl.LOCK_EX)
        futures = [pool.submit(call, hold) for call in calls]
        _wait_for_waiters(barrier, len(calls))
        fcntl.flock(lock, fcntl.LOCK_UN)
        return [f.result() for f in futures]


def _wait_for_waiters(barrier: Path, count: int, timeout: float = 15) -> None:
    """Until `count` processes are blocked on the barrier (/proc/locks lists them), or
    `timeout`: well before a call times out (30 s) on a machine that starts them slowly."""
    inode, deadline = os.stat(barrier).st_ino, time.monotonic() + timeout
    while time.monotonic() < deadline:
        locks = Path("/proc/locks").read_text().splitlines()
        waiting = [line for line in locks if "->" in line and INODE.search(line + " ")]
        if sum(int(INODE.search(line + " ").group(1)) == inode for line in waiting) >= count:
            return
        time.sleep(0.05)


def check(c: Checker) -> None:
    netns = c.empty_netns("ipam")
    conf = _conf(c, SMALL)
    with c.step("ADD hands out an address of the subnet, with its prefix and the gateway", hint=1):
        result = c.result_of(c.call("ADD", conf, container_id="c00", netns=netns))
        first = ip_interface(c.result_field(result, "ips", 0, "address"))
        c.expect(first.network == ip_network(SMALL), f"{first} is not an address of {SMALL}")
        gateway = c.result_field(result, "ips", 0, "gateway")
        c.expect(gateway == "10.99.4.1", f"the gateway must be 10.99.4.1, got {gateway!r}")

    with c.step("the next ADD remembers: a different address", hint=1):
        second = _address(c, c.call("ADD", conf, container_id="c01", netns=netns))
        c.expect(second and second != str(first.ip), f"got {second} twice")

    with c.step("never the network, the gateway or the broadcast address", hint=2):
        given = [str(first.ip), str(second), *_fill(c, conf, netns, "f", 40)]
        dupes = sorted({a for a in given if given.count(a) > 1})
        c.expect(not dupes, f"handed out twice: {', '.join(dupes)}")
        forbidden = {"10.99.4.0", "10.99.4.1", "10.99.4.31"} & set(given)
        c.expect(not forbidden, f"handed out {', '.join(sorted(forbidden))}")
        c.expect(len(given) == 29, f"a /27 has 29 addresses for pods, you gave {len(given)}")

    with c.step("a full pool is an error object, not a crash", hint=2):
        ex = c.call("ADD", conf, container_id="c99", netns=netns)
        c.expect(ex.returncode != 0, "the 30th ADD must fail: the pool is full")
        err = json.loads(ex.stdout or b"{}")
        c.expect(isinstance(err, dict) and err.get("code"), "the failure must be an error object")

    with c.step("DEL releases exactly one address (the bash plugin freed .20-.29 too)", hint=3):
        c.expect(str(first.ip) == "10.99.4.2", "the first ADD should have handed out 10.99.4.2")
        _deleted(c, conf, "c00", netns)
        again = _address(c, c.call("ADD", conf, container_id="again1", netns=netns))
        c.expect(again == "10.99.4.2", f"after DEL of 10.99.4.2, ADD gave {again}")
        extra = _address(c, c.call("ADD", conf, container_id="again2", netns=netns))
        c.expect(extra is None, f"DEL freed more than one address: {extra} was free again")

    with c.step("DEL of a container that holds nothing succeeds", hint=3):
        _deleted(c, conf, "never-added", netns)
        _deleted(c, _conf(c, "10.99.10.0/29"), "never-added", netns)  # no store at all yet

    with c.step("a container with eth0 and eth1: DEL of eth1 keeps eth0's address", hint=3):
        two = _conf(c, TWO_IFS)
        ex0 = c.call("ADD", two, container_id="two", netns=netns, ifname="eth0")
        ex1 = c.call("ADD", two, container_id="two", netns=netns, ifname="eth1")
        eth0, eth1 = _address(c, ex0), _address(c, ex1)
        c.expect(eth0 and eth1 and eth0 != eth1, f"eth0 got {eth0}, eth1 got {eth1}")
        c.expect(len(_fill(c, two, netns, "t", 6)) == 3, f"{TWO_IFS} holds 5 pods' addresses")
        _deleted(c, two, "two", netns, ifname="eth1")
        back = _address(c, c.call("ADD", two, container_id="n1", netns=netns))
        c.expect(back == eth1, f"after DEL of two/eth1 ({eth1}), ADD gave {back}")
        more = _address(c, c.call("ADD", two, container_id="n2", netns=netns))
        c.expect(more is None, f"DEL of two/eth1 freed {more} too: eth0's address is gone")

    with c.step("a container in two networks: DEL on one keeps the other", hint=3):
        shared = c.tempdir()
        net_a, net_b = _conf(c, OTHER, shared), _conf(c, ONE, shared)
        c.expect(_address(c, c.call("ADD", net_a, container_id="multi", netns=netns)), "ADD a")
        got = _address(c, c.call("ADD", net_b, container_id="multi", netns=netns))
        c.expect(got == "10.99.7.2", f"the only address of {ONE} is 10.99.7.2, got {got}")
        full = _address(c, c.call("ADD", net_b, container_id="other", netns=netns))
        c.expect(full is None, f"{ONE} holds one pod, yet a second ADD got {full}")
        _deleted(c, net_a, "multi", netns)
        stolen = _address(c, c.call("ADD", net_b, container_id="other", netns=netns))
        c.expect(stolen is None, f"DEL of multi in {OTHER} also freed its {got} in {ONE}")

    with c.step("24 ADDs at the same instant get 24 different addresses", hint=4):
        race = _conf(c, RACE)

        def add(i: int) -> Callable[[dict[str, str]], Execution]:
            return lambda hold: c.call(
                "ADD", race, container_id=f"race{i}", netns=netns, extra_env=hold
            )

        runs = _at_once(c, [add(i) for i in range(24)])
        addresses = [_address(c, ex) for ex in runs]
        c.expect(None not in addresses, f"{addresses.count(None)} of the 24 ADDs failed")
        dupes = sorted({a for a in addresses if a and addresses.count(a) > 1})
        c.expect(not dupes, f"handed out twice: {', '.join(dupes)}: ADD needs the lock")

    with c.step("DELs racing ADDs: no address lost, none held twice", hint=4):
        for round_ in range(RACE_ROUNDS):  # one round misses an unlocked DEL now and then
            _racing_dels(c, netns, round_)


def _racing_dels(c: Checker, netns: str, round_: int) -> None:
    """14 pods leave while 14 arrive; then the pool must hold exactly 15 free addresses,
    none of them an arrival's: a DEL that rewrote the store unlocked loses or revives lines."""
    mixed = _conf(c, MIXED)
    mixed["name"] += f"-{round_}"

    def run(command: str, cid: str) -> Callable[[dict[str, str]], Execution]:
        return lambda hold: c.call(command, mixed, container_id=cid, netns=netns, extra_env=hold)

    old = [_address(c, ex) for ex in _at_once(c, [run("ADD", f"old{i}") for i in range(14)])]
    c.expect(None not in old, f"{old.count(None)} of 14 ADDs into an empty {MIXED} failed")
    calls = [run("DEL", f"old{i}") for i in range(14)] + [run("ADD", f"new{i}") for i in range(14)]
    runs = _at_once(c, calls)
    failed = [ex for ex in runs[:14] if ex.returncode != 0]
    c.expect(not failed, f"{len(failed)} DELs failed: {failed[0].stdout[:160]!r}" if failed else "")
    arrivals = [_address(c, ex) for ex in runs[14:]]
    c.expect(None not in arrivals, f"{arrivals.count(None)} of the 14 ADDs failed")
    rest = [_address(c, ex) for ex in _at_once(c, [run("ADD", f"rest{i}") for i in range(16)])]
    twice = sorted(set(rest) & set(arrivals) - {None})  # type: ignore[operator]
    c.expect(
        not twice, f"handed out again while still held: {', '.join(twice)}: DEL needs the lock"
    )
    free = len(rest) - rest.count(None)
    c.expect(
        free >= 15,
        f"after the race {MIXED} had {free} free addresses, not 15:"
        " a DEL wrote back lines another DEL had removed: DEL needs the lock",
    )
    c.expect(free == 15, f"{MIXED} had more than 15 free addresses after the race")
