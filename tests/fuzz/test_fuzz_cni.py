"""Hypothesis fuzzing of the CNI contract of `pycni` and `pycni-ipam` (issue 10, item 9).

Whatever the environment and stdin, a call either succeeds properly or prints the spec's
error JSON ({"cniVersion", "code", "msg", "details"?}) with a well-known code and exits 1;
and nothing is left in the kernel or the IPAM store after a failed ADD, or after a
successful ADD that was DEL'd. The bulk runs in-process (skel with an injected
environment, inside a node namespace of the test's own), a smaller share execs the
installed launchers as a runtime would.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lab.cni.errors import ErrorCode
from lab.cni.result import Result
from lab.cni.skel import COMMANDS, Environment
from lab.cni.skel import main as skel_main
from lab.cni.version import SUPPORTED_VERSIONS
from lab.kernel.netns import in_netns
from lab.pycni import conf as pycni_conf
from lab.pycni import plugin
from lab.pycni.daemon_control import stop_daemons_in
from lab.pycni.ipam import config as ipam_config
from lab.pycni.ipam.plugin import IPAMPlugin
from lab.pycni.launcher import write_launchers
from tests.conftest import Namespaces

pytestmark = [pytest.mark.fuzz, pytest.mark.root]

WELL_KNOWN = {int(c) for c in ErrorCode}
STATUS_ONLY = {ErrorCode.NOT_AVAILABLE, ErrorCode.LIMITED_CONNECTIVITY}
ERROR_KEYS = {"cniVersion", "code", "msg", "details"}
BRIDGE = "fuzzbr0"
LOOPBACK = ("lo", "")
NETWORK = "fuzznet"
HOST_LOCAL = Path("/usr/lib/cni/host-local")
# Exec'ing a launcher costs ~0.3 s (pyroute2's import): those properties run a share
# of the profile's count (the daemon's thin client, ~50 ms, a larger one).
EXEC_SHARE = 50


# A real ADD + CHECK + DEL costs ~45 ms (deleting a veth waits for the kernel's RCU).
KERNEL_SHARE = 3


def exec_settings() -> settings:
    return settings(max_examples=max(20, settings().max_examples // EXEC_SHARE))


def kernel_settings() -> settings:
    """The whole CI count, a third of the bench's: ~30% of these build and tear down a pod."""
    return settings(max_examples=max(150, settings().max_examples // KERNEL_SHARE))


# ---------------------------------------------------------------- the lab under test


@dataclass
class Call:
    exit: int
    stdout: str
    stderr: str
    unexpected: list[str] = field(default_factory=list)  # exceptions skel had to catch


class _Unexpected(logging.Handler):
    """Records skel's "unexpected error" log: a bug even when the JSON looks fine."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(self.format(record))


@dataclass
class Lab:
    """A node namespace (where the plugin runs) and a pod namespace, reused per test."""

    tmp: Path
    node: str
    pod: str
    bin_dir: Path
    data_root: Path
    log_file: Path
    unexpected: _Unexpected
    node_ipr: Any = None
    pod_ipr: Any = None
    node_now: set[tuple[str, str]] = field(default_factory=lambda: {LOOPBACK})
    dirty: bool = True  # an ADD ran since the last reset: look at the kernel
    seen: tuple[set[tuple[str, str]], set[tuple[str, str]]] | None = None  # the last state()

    def resolve(self, token: str) -> str:
        """Paths the strategies name by token; every one of them lies in the test's tmp."""
        return {
            "pod": self.pod,
            "missing": f"/run/netns/pytest-fuzz-missing-{uuid.uuid4().hex[:6]}",
            "file": str(self.tmp / "a-file"),
            "dir": str(self.tmp),
            "bin": str(self.bin_dir),
            "data": str(self.data_root / "store"),
            "data-file": str(self.tmp / "a-file"),
            "log": str(self.log_file),
            "log-dir": str(self.tmp),
        }[token]

    # --- runs

    def run_pycni(self, environ: Mapping[str, str], stdin: bytes) -> Call:
        self.dirty |= environ.get("CNI_COMMAND") == "ADD"
        out, err = io.StringIO(), io.StringIO()
        self.unexpected.seen.clear()
        with in_netns(self.node):
            code = plugin.run(stdin, dict(environ), stdout=out, stderr=err)
        return Call(code, out.getvalue(), err.getvalue(), list(self.unexpected.seen))

    def run_ipam(self, environ: Mapping[str, str], stdin: bytes) -> Call:
        out, err = io.StringIO(), io.StringIO()
        self.unexpected.seen.clear()
        env = Environment(dict(environ), io.BytesIO(stdin), out, err)
        code = skel_main(IPAMPlugin(), about="pycni-ipam (fuzz)", env=env)
        return Call(code, out.getvalue(), err.getvalue(), list(self.unexpected.seen))

    def exec(self, binary: str, environ: Mapping[bytes, bytes], stdin: bytes) -> Call:
        """The installed launcher, in the node namespace, exactly as a runtime runs it."""
        self.dirty |= environ.get(b"CNI_COMMAND") == b"ADD"
        proc = subprocess.run(
            ["nsenter", f"--net={self.node}", "--", str(self.bin_dir / binary)],
            input=stdin,
            env=dict(environ),
            capture_output=True,
            timeout=120,
            check=False,
        )
        stderr = proc.stderr.decode(errors="replace")
        unexpected = [stderr] if "unexpected error" in stderr else []
        return Call(proc.returncode, proc.stdout.decode(errors="replace"), stderr, unexpected)

    # --- what is in the kernel and the store

    def links(self, ipr: Any) -> set[tuple[str, str]]:
        out = set()
        for msg in ipr.link("dump"):
            kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or ""
            out.add((msg.get("ifname"), kind))
        return out

    def reservations(self) -> list[str]:
        found = []
        for dirpath, _, files in os.walk(self.data_root):
            for name in files:
                try:
                    ip_address(name)
                except ValueError:
                    continue
                found.append(os.path.join(dirpath, name))
        return found

    def masquerade_rules(self) -> list[str]:
        out = subprocess.run(
            ["nsenter", f"--net={self.node}", "--", "nft", "-j", "list", "table", "inet", "pycni"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        if not out.startswith("{"):
            return []
        return [i["rule"].get("comment", "") for i in json.loads(out)["nftables"] if "rule" in i]

    def state(self, masq: bool) -> tuple[Any, ...]:
        self.seen = (self.links(self.node_ipr), self.links(self.pod_ipr))
        return (*self.seen, sorted(self.reservations()), self.masquerade_rules() if masq else [])

    def remove_bridges(self) -> None:
        for name, kind in self.node_now:
            if kind == "bridge":
                self.node_ipr.link("del", ifname=name)
        self.node_now = {LOOPBACK}

    def reset(self, masq: bool) -> None:
        """Back to an empty lab (only lo, a bridge at most), no store, no rules.

        A link dump costs ~2 ms, so the namespaces are looked at only after an ADD (nothing
        else creates links); `node_now` remembers what the node holds in between.
        """
        if self.dirty:
            seen = self.seen or (self.links(self.node_ipr), self.links(self.pod_ipr))
            for ipr, found in zip((self.node_ipr, self.pod_ipr), seen, strict=True):
                for name, kind in found:
                    if name != "lo" and kind != "bridge":
                        ipr.link("del", ifname=name)
            self.node_now = {(n, k) for n, k in seen[0] if n == "lo" or k == "bridge"}
            self.dirty = False
        self.seen = None
        shutil.rmtree(self.data_root, ignore_errors=True)
        self.data_root.mkdir()
        if not masq:
            return
        subprocess.run(
            ["nsenter", f"--net={self.node}", "--", "nft", "delete", "table", "inet", "pycni"],
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.fixture
def lab(namespaces: Namespaces, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    from pyroute2 import IPRoute

    if not shutil.which("nsenter") or not shutil.which("nft"):
        pytest.skip("nsenter and nft are needed")
    # A config without dataDir or logFile must not reach the host's /var.
    monkeypatch.setattr(ipam_config, "DEFAULT_DATA_DIR", str(tmp_path / "ipam" / "default"))
    monkeypatch.setattr(pycni_conf, "DEFAULT_LOG_FILE", str(tmp_path / "default.log"))
    bin_dir = tmp_path / "bin"
    write_launchers(bin_dir)
    if HOST_LOCAL.exists():  # a real delegated IPAM, exec'd through CNI_PATH
        os.symlink(HOST_LOCAL, bin_dir / "host-local")
    (tmp_path / "a-file").write_text("not a namespace\n")
    unexpected = _Unexpected()
    logging.getLogger("cni.skel").addHandler(unexpected)
    node = f"/run/netns/{namespaces.new('fnode')}"
    pod = f"/run/netns/{namespaces.new('fpod')}"
    the_lab = Lab(
        tmp=tmp_path,
        node=node,
        pod=pod,
        bin_dir=bin_dir,
        data_root=tmp_path / "ipam",
        log_file=tmp_path / "pycni.log",
        unexpected=unexpected,
    )
    the_lab.data_root.mkdir()
    try:
        for path, attr in ((node, "node_ipr"), (pod, "pod_ipr")):
            with in_netns(path):
                ipr = IPRoute()
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            setattr(the_lab, attr, ipr)
        yield the_lab
    finally:
        stop_daemons_in(node)  # one the launcher started itself, with the daemon allowed
        logging.getLogger("cni.skel").removeHandler(unexpected)
        for ipr in (the_lab.node_ipr, the_lab.pod_ipr):
            if ipr is not None:
                ipr.close()


# ---------------------------------------------------------------- the contract


def check_answer(call: Call, command: str) -> dict[str, Any] | None:
    """The contract of one call; returns the ADD result when ADD succeeded."""
    assert "Traceback" not in call.stdout, call.stdout
    assert "Traceback" not in call.stderr, call.stderr
    assert not call.unexpected, call.unexpected
    if call.exit == 0:
        if command == "ADD":
            obj = json.loads(call.stdout)
            assert isinstance(obj, dict) and "code" not in obj, obj
            assert obj["cniVersion"] in SUPPORTED_VERSIONS, obj
            Result.from_dict(obj)  # reads back as a result of its version
            event("ADD succeeded")
            return obj
        if command == "VERSION":
            obj = json.loads(call.stdout)
            assert obj["supportedVersions"] == list(SUPPORTED_VERSIONS), obj
            return None
        assert call.stdout == "", call.stdout
        event(f"{command!a} succeeded")
        return None
    assert call.exit == 1, call
    obj = json.loads(call.stdout)  # exactly one JSON object, nothing else
    assert isinstance(obj, dict), obj
    assert {"cniVersion", "code", "msg"} <= set(obj) <= ERROR_KEYS, obj
    assert obj["code"] in WELL_KNOWN, obj
    assert obj["code"] not in STATUS_ONLY or command == "STATUS", obj
    assert isinstance(obj["msg"], str) and obj["msg"], obj
    assert isinstance(obj.get("details", ""), str), obj
    assert obj["cniVersion"] in SUPPORTED_VERSIONS, obj
    event(f"{command[:8]!a} error {obj['code']} {obj['msg'][:50]!a}")
    return None


# ---------------------------------------------------------------- strategies

_ODD_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
ODD_TEXT = st.text(_ODD_CHARS, max_size=30)
# What os.environ holds for bytes that are not UTF-8: surrogate escapes.
ODD_BYTES = st.binary(min_size=1, max_size=30).map(lambda b: b.replace(b"\0", b"\x01"))
HUGE = st.sampled_from(["x", "a/", "\u00e9", "9"]).flatmap(
    lambda s: st.integers(200, 30_000).map(lambda n: s * (n // len(s)))
)
SPECIAL = st.sampled_from(
    ["", " ", ".", "..", "-", "eth0 ", "a:b", "a/b", "\u00e0", "\t", "\u00a0", "é" * 8, "x" * 16]
)
GARBAGE = st.one_of(
    ODD_TEXT, ODD_BYTES.map(lambda b: b.decode("utf-8", "surrogateescape")), HUGE, SPECIAL
)
NAME_LIKE = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,20}", fullmatch=True)
IFNAME_LIKE = st.from_regex(r"[a-z][a-z0-9\-]{0,14}", fullmatch=True)


def _weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of `choices`, each drawn `weight` times out of the sum (one_of is uniform)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(table))).flatmap(lambda i: table[i])


def _one_in(n: int) -> st.SearchStrategy[bool]:
    """True once in `n`; False is the simplest draw, so shrinking heads for the valid path."""
    return st.sampled_from(range(n)).map(lambda i: i == n - 1)


def _maybe(valid: st.SearchStrategy[Any], weight_valid: int = 8) -> st.SearchStrategy[Any]:
    """Mostly a valid-looking value, sometimes garbage, sometimes absent (None)."""
    return _weighted((weight_valid, valid), (1, GARBAGE), (1, st.none()))


def environments(valid: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """CNI_* variables; path-like ones are tokens the test resolves into its tmp.

    `valid`: for each garbage or absent variable, how many valid-looking ones.
    """
    return st.fixed_dictionaries(
        {
            "CNI_COMMAND": _maybe(st.sampled_from(COMMANDS), valid),
            "CNI_CONTAINERID": _maybe(NAME_LIKE, valid),
            "CNI_NETNS": _weighted(
                (valid, st.just(("pod",))),
                (1, st.sampled_from([("missing",), ("file",), ("dir",)])),
                (1, GARBAGE.map(lambda s: ("garbage", s))),
                (1, st.none()),
            ),
            "CNI_IFNAME": _maybe(
                _weighted((3, st.sampled_from(["eth0", "net1"])), (1, IFNAME_LIKE)), valid
            ),
            "CNI_ARGS": _maybe(st.just("K8S_POD_NAME=web;IgnoreUnknown=1"), 2),
            "CNI_PATH": _weighted(
                (valid, st.just(("bin",))), (1, GARBAGE.map(lambda s: ("garbage", s)))
            ),
        }
    )


def resolve_env(lab: Lab, raw: dict[str, Any]) -> dict[str, str]:
    """Tokens to paths; garbage holding a "/" is rooted in tmp (no host file is opened)."""
    env: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            if value[0] == "garbage":
                text = value[1]
                value = f"{lab.tmp}/{text}" if "/" in text else text
            else:
                value = lab.resolve(value[0])
        env[key] = value
    return env


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT,
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ODD_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
WRONG = st.one_of(
    JSON_SCALAR,
    st.lists(JSON_SCALAR, max_size=3),
    st.dictionaries(ODD_TEXT, JSON_SCALAR, max_size=3),
    SPECIAL,
)
DELETE = object()


@st.composite
def networks(draw: st.DrawFn, family: int | None = None) -> str:
    v = family or draw(st.sampled_from([4, 4, 4, 6]))
    if draw(_one_in(6)):  # any address, any prefix: multicast, loopback...
        ip = draw(st.ip_addresses(v=v))
        prefix = draw(st.integers(0, 32 if v == 4 else 128))
    else:  # the usual pod subnets
        ip = ip_address(
            f"10.{draw(st.integers(0, 255))}.{draw(st.integers(0, 255))}.0"
            if v == 4
            else f"fd00:{draw(st.integers(0, 0xFFFF)):x}::"
        )
        prefix = draw(st.sampled_from([24, 28, 30, 16]) if v == 4 else st.sampled_from([64, 120]))
    return str(ip_network(f"{ip}/{prefix}", strict=False))


def _address_in(net: str) -> st.SearchStrategy[str]:
    n = ip_network(net)
    top = min(n.num_addresses - 1, 2**32)
    return st.integers(0, top).map(lambda i: str(n.network_address + i))


@st.composite
def ip_ranges(draw: st.DrawFn, family: int | None = None) -> dict[str, Any]:
    subnet = draw(networks(family))
    r: dict[str, Any] = {"subnet": subnet}
    v = ip_network(subnet).version
    for key in ("rangeStart", "rangeEnd", "gateway"):
        choice = 29 - draw(st.sampled_from(range(30)))  # the simplest draw (0) leaves it out
        if choice == 0:
            r[key] = draw(st.ip_addresses(v=v).map(str))
        elif choice == 1:
            r[key] = draw(WRONG)
        elif choice == 2:
            r[key] = draw(_address_in(subnet))
    if draw(_one_in(30)):
        r["subnet"] = draw(st.one_of(WRONG, st.just("10.0.0.300/24"), st.just("10.0.0.0/33")))
    return r


@st.composite
def ipam_sections(draw: st.DrawFn) -> dict[str, Any]:
    ipam: dict[str, Any] = {
        "type": draw(st.sampled_from(["pycni-ipam"] * 8 + ["host-local", "pycni"])),
        "dataDir": draw(st.sampled_from([("data",)] * 6 + [("data-file",)])),
    }
    if draw(st.booleans()):
        ipam.update(draw(ip_ranges()))
    else:
        ipam["ranges"] = draw(
            st.lists(st.lists(ip_ranges(), min_size=1, max_size=2), min_size=1, max_size=2)
        )
    if draw(_one_in(3)):
        ipam["routes"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"dst": networks()},
                    optional={"gw": st.one_of(st.ip_addresses().map(str), WRONG)},
                ),
                max_size=3,
            )
        )
    return ipam


def prev_results(version: str, broken: bool) -> st.SearchStrategy[Any]:
    good = {
        "cniVersion": version,
        "interfaces": [{"name": "tun0", "sandbox": "/x"}],
        "ips": [{"address": "10.99.0.5/24", "interface": 0}]
        if version >= "1.0.0"
        else [{"version": "4", "address": "10.99.0.5/24", "interface": 0}],
    }
    if not broken:
        return st.just(good)
    return st.one_of(WRONG, st.just({**good, "ips": [{"address": "nope"}]}))


@st.composite
def netconfs(draw: st.DrawFn, mutations: tuple[int, ...] = (0, 0, 0, 1, 1, 2)) -> dict[str, Any]:
    """A valid-looking pycni config of any supported version, then a few mutations."""
    version = draw(st.sampled_from(SUPPORTED_VERSIONS))
    conf: dict[str, Any] = {
        "cniVersion": version,
        "name": NETWORK,
        "type": "pycni",
        "bridge": BRIDGE,
        "logFile": ("log",),
        "ipam": draw(ipam_sections()),
    }
    for key in ("isGateway", "isDefaultGateway", "ipMasq", "hairpinMode"):
        if draw(st.booleans()):
            conf[key] = draw(st.booleans())
    optional = {
        "mtu": st.integers(1280, 9000),
        "dns": st.just({"nameservers": ["10.96.0.10"], "search": ["svc.local"]}),
        "prevResult": prev_results(version, draw(_one_in(4))),
        "cniVersions": st.lists(st.sampled_from([*SUPPORTED_VERSIONS, "9.9.9"]), max_size=3),
        "args": st.just({"cni": {"ips": ["10.1.2.3"]}}),
        "runtimeConfig": st.just({"demo": {"delay": 0}}),
        "capabilities": st.just({"demo": True}),
    }
    for key, strategy in optional.items():
        if draw(_one_in(6)):
            conf[key] = draw(strategy)
    keys = [*conf, *optional, "demoDelay", "ipam.type", "ipam.dataDir", "ipam.subnet"]
    for _ in range(draw(st.sampled_from(mutations))):
        key = draw(st.sampled_from(keys))
        value = draw(st.one_of(WRONG, st.just(DELETE)))
        target = conf
        if key.startswith("ipam."):
            if not isinstance(conf.get("ipam"), dict):
                continue
            target, key = conf["ipam"], key.removeprefix("ipam.")
        if value is DELETE:
            target.pop(key, None)
        else:
            target[key] = value
    return conf


def _tame(lab: Lab, conf: Any, defaults: bool) -> Any:
    """Resolve path tokens; keep every valid path in tmp and every valid delay at 0.

    `defaults`: fill a missing logFile/dataDir (an exec'd plugin cannot be monkeypatched).
    """
    if isinstance(conf, tuple):
        return lab.resolve(conf[0])
    if isinstance(conf, list):
        return [_tame(lab, c, defaults) for c in conf]
    if not isinstance(conf, dict):
        return conf
    out = {k: _tame(lab, v, defaults) for k, v in conf.items()}
    for key, token in (("logFile", "log"), ("dataDir", "data")):
        value = out.get(key)
        inside = isinstance(value, str) and value.startswith(str(lab.tmp))
        if isinstance(value, str) and value.startswith("/") and not inside:
            out[key] = lab.resolve(token)
    for key in ("demoDelay", "delay"):
        value = out.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 10:
            out[key] = 0
    if defaults:
        if "type" in out and "logFile" not in out:
            out["logFile"] = lab.resolve("log")
        if isinstance(out.get("ipam"), dict) and "dataDir" not in out["ipam"]:
            out["ipam"]["dataDir"] = lab.resolve("data")
    return out


def stdins() -> st.SearchStrategy[Any]:
    """A netconf to mutate (dict), or raw bytes: random, random JSON, deep, huge."""
    return st.one_of(
        netconfs(),
        netconfs(),
        netconfs(),
        st.binary(max_size=200),
        JSON.map(lambda j: json.dumps(j).encode()),
        st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.integers(4000, 20_000).map(lambda n: b'{"name": "n", "mtu": ' + b"9" * n + b"}"),
        netconfs().map(lambda c: {"cniVersion": c.get("cniVersion"), "name": "l", "plugins": [c]}),
    )


def encode_stdin(lab: Lab, stdin: Any, defaults: bool = False) -> tuple[bytes, dict | None]:
    if isinstance(stdin, bytes):
        return stdin, None
    conf = _tame(lab, stdin, defaults)
    return json.dumps(conf).encode(), conf


# ---------------------------------------------------------------- the properties


def settle(lab: Lab, env: dict[str, str], stdin: bytes, conf: dict | None) -> Call:
    """One call, then DEL what an ADD made, then assert that nothing is left anywhere."""
    masq = bool(conf and conf.get("ipMasq") is True)
    before = set(lab.node_now)
    call = lab.run_pycni(env, stdin)
    try:
        _settle(lab, before, call, env, stdin, conf, masq)
    finally:  # a failed example must not leave its state to the next (or to shrinking)
        lab.reset(masq)
    return call


def _settle(
    lab: Lab,
    before: set[tuple[str, str]],
    call: Call,
    env: dict[str, str],
    stdin: bytes,
    conf: dict | None,
    masq: bool,
) -> None:
    command = env.get("CNI_COMMAND", "")
    result = check_answer(call, command)
    if result is not None:
        if result["cniVersion"] >= "0.4.0":
            assert conf is not None
            checked = {**conf, "prevResult": result}
            check = lab.run_pycni({**env, "CNI_COMMAND": "CHECK"}, json.dumps(checked).encode())
            check_answer(check, "CHECK")
            assert check.exit == 0, check.stdout
        gone = lab.run_pycni({**env, "CNI_COMMAND": "DEL"}, stdin)
        check_answer(gone, "DEL")
        assert gone.exit == 0, gone.stdout
    if command == "ADD" or result is not None:
        assert_clean(lab, before, conf if result is not None else None, masq)


def assert_clean(lab: Lab, before: set[tuple[str, str]], added: dict | None, masq: bool) -> None:
    """Nothing but what was there; a bridge may stay only if an ADD succeeded (`added`)."""
    node, pod, reserved, rules = lab.state(masq)
    if added is not None:  # like the reference bridge, DEL keeps the bridge
        node = node - {(added.get("bridge", pycni_conf.DEFAULT_BRIDGE), "bridge")}
    assert node <= before, node - before
    assert pod == {("lo", "")}, pod
    assert reserved == [], reserved
    assert rules == [], rules


@given(raw_env=environments(), stdin=stdins())
def test_pycni_in_process(lab: Lab, raw_env: dict[str, Any], stdin: Any) -> None:
    """Random environments and stdin, in the in-process path (what the daemon's child runs)."""
    env = resolve_env(lab, raw_env)
    data, conf = encode_stdin(lab, stdin)
    settle(lab, env, data, conf)


@kernel_settings()
@given(
    raw_env=environments(valid=20).map(
        lambda e: {**e, "CNI_COMMAND": "ADD", "CNI_NETNS": ("pod",), "CNI_PATH": ("bin",)}
    ),
    conf=netconfs(mutations=(0, 1, 1, 2, 2, 3)),
    fresh=_one_in(20),
)
def test_pycni_add_touches_kernel(
    lab: Lab, raw_env: dict[str, Any], conf: Any, fresh: bool
) -> None:
    """ADDs with mutated valid configs: those that reach the kernel leave nothing on failure.

    A bridge costs ~55 ms to delete, so it outlives a successful ADD + DEL; `fresh` (drawn,
    so a failure replays) removes it first, and a failed ADD must then not re-create it.
    """
    env = resolve_env(lab, raw_env)
    data, tamed = encode_stdin(lab, conf)
    if fresh:
        lab.remove_bridges()
    call = settle(lab, env, data, tamed)
    # In a clean lab the kernel refuses nothing that validation let through (code 7).
    own_ipam = isinstance(tamed.get("ipam"), dict) and tamed["ipam"].get("type") == "pycni-ipam"
    if own_ipam and call.exit:
        assert not json.loads(call.stdout)["msg"].startswith("failed to "), call.stdout


@given(raw_env=environments(), stdin=stdins())
def test_pycni_ipam_in_process(lab: Lab, raw_env: dict[str, Any], stdin: Any) -> None:
    """The stand-alone IPAM: the same contract, and no reservation outlives a failed ADD."""
    env = resolve_env(lab, raw_env)
    data, _conf = encode_stdin(lab, stdin)
    try:
        call = lab.run_ipam(env, data)
        command = env.get("CNI_COMMAND", "")
        result = check_answer(call, command)
        if result is not None:
            gone = lab.run_ipam({**env, "CNI_COMMAND": "DEL"}, data)
            check_answer(gone, "DEL")
            assert gone.exit == 0, gone.stdout
        if command == "ADD":
            assert lab.reservations() == []
    finally:
        lab.reset(False)


def _exec_env(lab: Lab, raw: dict[str, Any], no_daemon: bool) -> dict[bytes, bytes]:
    env = {
        k.encode(): v.encode("utf-8", "surrogateescape") for k, v in resolve_env(lab, raw).items()
    }
    env[b"PATH"] = b"/usr/sbin:/usr/bin:/sbin:/bin"
    if no_daemon:
        env[b"PYCNI_NO_DAEMON"] = b"1"
    return env


def _exec_settle(lab: Lab, binary: str, env: dict[bytes, bytes], data: bytes, conf: Any) -> None:
    try:
        _exec_check(lab, set(lab.node_now), binary, env, data, conf)
    finally:
        lab.reset(bool(isinstance(conf, dict) and conf.get("ipMasq") is True))


def _exec_check(
    lab: Lab,
    before: set[tuple[str, str]],
    binary: str,
    env: dict[bytes, bytes],
    data: bytes,
    conf: Any,
) -> None:
    call = lab.exec(binary, env, data)
    command = env.get(b"CNI_COMMAND", b"").decode(errors="replace")
    result = check_answer(call, command)
    if result is not None:
        gone = lab.exec(binary, {**env, b"CNI_COMMAND": b"DEL"}, data)
        check_answer(gone, "DEL")
        assert gone.exit == 0, gone.stdout
    if command == "ADD":
        masq = bool(isinstance(conf, dict) and conf.get("ipMasq") is True)
        assert_clean(lab, before, conf if result is not None else None, masq)


@exec_settings()
@given(raw_env=environments(), stdin=stdins(), no_daemon=st.booleans())
def test_pycni_executable(lab: Lab, raw_env: dict[str, Any], stdin: Any, no_daemon: bool) -> None:
    """The installed `pycni` launcher with raw bytes in its environment (the first call with
    the daemon allowed starts one, which serves the calls after it)."""
    data, conf = encode_stdin(lab, stdin, defaults=True)
    _exec_settle(lab, "pycni", _exec_env(lab, raw_env, no_daemon), data, conf)


@exec_settings()
@given(raw_env=environments(), stdin=stdins())
def test_pycni_ipam_executable(lab: Lab, raw_env: dict[str, Any], stdin: Any) -> None:
    """The installed `pycni-ipam` launcher, as any plugin would delegate to it."""
    data, conf = encode_stdin(lab, stdin, defaults=True)
    _exec_settle(lab, "pycni-ipam", _exec_env(lab, raw_env, False), data, conf)


@pytest.fixture
def daemon_lab(lab: Lab) -> Iterator[Lab]:
    """The same lab with a warm `pycni daemon` in the node namespace: the thick path."""
    daemon = subprocess.Popen(
        [
            "nsenter",
            f"--net={lab.node}",
            "--",
            str(lab.bin_dir / "pycni"),
            "daemon",
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # ready when its abstract socket is listed
            listening = subprocess.run(
                ["nsenter", f"--net={lab.node}", "--", "ss", "-xl"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "cnilab/pycni-daemon" in listening:
                break
            assert daemon.poll() is None, "pycni daemon exited at start"
            time.sleep(0.05)
        else:
            pytest.fail("pycni daemon did not start")
        yield lab
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


@settings(max_examples=max(20, settings().max_examples // 20))
@given(raw_env=environments(), stdin=stdins())
def test_pycni_through_daemon(daemon_lab: Lab, raw_env: dict[str, Any], stdin: Any) -> None:
    """The thin `pycni` handing each call to the daemon: same answers, same clean kernel."""
    data, conf = encode_stdin(daemon_lab, stdin, defaults=True)
    _exec_settle(daemon_lab, "pycni", _exec_env(daemon_lab, raw_env, no_daemon=False), data, conf)
