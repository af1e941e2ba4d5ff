"""IPAM policy and config, on an in-memory Store: no root, no disk."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lab.cni.errors import CNIError
from lab.pycni.ipam.allocator import allocate, candidates, has_free_address
from lab.pycni.ipam.config import Range, load_ipam_conf
from lab.pycni.ipam.store import DiskStore, IPAddress, Owner


class FakeStore:
    """The Store protocol in memory, as host-local's backend/testing/fake_store."""

    def __init__(self) -> None:
        self.ips: dict[IPAddress, Owner] = {}
        self.last: dict[int, IPAddress] = {}

    def __enter__(self) -> FakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def reserve(self, owner: Owner, ip: IPAddress, range_id: int) -> bool:
        if ip in self.ips:
            return False
        self.ips[ip] = owner
        self.last[range_id] = ip
        return True

    def last_reserved(self, range_id: int) -> IPAddress | None:
        return self.last.get(range_id)

    def release(self, ip: IPAddress) -> None:
        self.ips.pop(ip, None)

    def reservations(self) -> dict[IPAddress, Owner]:
        return dict(self.ips)

    def owned_by(self, owner: Owner) -> list[IPAddress]:
        return sorted(ip for ip, o in self.ips.items() if o == owner)

    def release_owner(self, owner: Owner) -> list[IPAddress]:
        mine = self.owned_by(owner)
        for ip in mine:
            self.release(ip)
        return mine


def rng(subnet: str, **kw: str) -> Range:
    return Range.from_dict({"subnet": subnet, **kw})


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def test_never_hands_out_network_gateway_or_broadcast() -> None:
    store, r = FakeStore(), rng("10.0.0.0/29")
    got = [str(allocate(store, [r], 0, (f"c{i}", "eth0")).address.ip) for i in range(5)]
    assert got == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(CNIError) as e:
        allocate(store, [r], 0, ("full", "eth0"))
    assert e.value.code == 11


def test_round_robin_resumes_after_the_last_reserved() -> None:
    store, r = FakeStore(), rng("10.0.0.0/24")
    allocate(store, [r], 0, ("a", "eth0"))
    allocate(store, [r], 0, ("b", "eth0"))
    store.release(ip("10.0.0.2"))
    assert str(allocate(store, [r], 0, ("c", "eth0")).address) == "10.0.0.4/24"


def test_candidates_wrap_around_and_cover_every_address_once() -> None:
    r = rng("10.0.0.0/28", rangeStart="10.0.0.4", rangeEnd="10.0.0.8")
    seen = [str(i) for _, i in candidates([r], ip("10.0.0.6"))]
    assert seen == ["10.0.0.7", "10.0.0.8", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    seen = [str(i) for _, i in candidates([r], ip("10.0.0.8"))]
    assert seen[0] == "10.0.0.4" and len(seen) == 5


def test_range_set_moves_to_the_next_range() -> None:
    a = rng("10.0.0.0/24", rangeStart="10.0.0.10", rangeEnd="10.0.0.11")
    b = rng("10.1.0.0/24", rangeStart="10.1.0.10", rangeEnd="10.1.0.10")
    store = FakeStore()
    got = [str(allocate(store, [a, b], 0, (f"c{i}", "eth0")).address) for i in range(3)]
    assert got == ["10.0.0.10/24", "10.0.0.11/24", "10.1.0.10/24"]
    assert not has_free_address(store, [a, b])


def test_ipv6_range_uses_the_last_address_too() -> None:
    r = rng("fd00::/126")
    store = FakeStore()
    got = [str(allocate(store, [r], 0, (f"c{i}", "eth0")).address) for i in range(2)]
    assert got == ["fd00::2/126", "fd00::3/126"]


@pytest.mark.parametrize(
    ("ipam", "words"),
    [
        ({"subnet": "10.0.0.0/31"}, "too small"),
        ({"subnet": "nonsense"}, "invalid subnet"),
        ({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.0"}, "usable addresses"),
        ({"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.255"}, "usable addresses"),
        ({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.5"}, "usable"),
        ({"subnet": "10.0.0.0/24", "gateway": "10.9.9.9"}, "outside"),
        ({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/25"}]]}, "overlap"),
        ({"ranges": []}, "non-empty"),
        ({"subnet": "10.0.0.0/24", "routes": [{"dst": "x"}]}, "invalid route"),
        ({"subnet": "10.0.0.0/24", "dataDir": "relative"}, "absolute"),
        # the kernel refuses these as a pod's address or next hop: code 7, not a 999 later
        ({"subnet": "0.0.0.0/0"}, "no pod can be given"),
        ({"subnet": "224.0.0.0/24"}, "no pod can be given"),
        ({"subnet": "::/120"}, "no pod can be given"),
        ({"subnet": "ff02::/120"}, "no pod can be given"),
        ({"subnet": "10.0.0.0/24", "routes": [{"dst": "0.0.0.0/0", "gw": "0.0.0.0"}]}, "via"),
        ({"subnet": "10.0.0.0/24", "routes": [{"dst": "0.0.0.0/0", "gw": "fd00::1"}]}, "via"),
        ({"subnet": "10.0.0.0/24", "routes": [{"dst": "0.0.0.0/0", "gw": "10.9.9.9"}]}, "no IPAM"),
        ({"subnet": "10.0.0.0/24", "routes": [{"dst": "10.0.0.0/24"}]}, "own subnet"),
        ({"subnet": "10.0.0.0/24", "routes": [{"dst": "10.9.0.0/16"}] * 2}, "twice"),
    ],
)
def test_config_errors_are_code_7(ipam: dict, words: str) -> None:
    with pytest.raises(CNIError) as e:
        load_ipam_conf({"name": "n", "ipam": {"type": "pycni-ipam", **ipam}})
    assert e.value.code == 7
    assert words in e.value.msg


def test_config_defaults_match_host_local() -> None:
    conf = load_ipam_conf({"name": "n", "ipam": {"type": "x", "subnet": "10.244.1.0/24"}})
    (r,) = conf.range_sets[0]
    assert (str(r.start), str(r.end), str(r.gateway)) == (
        "10.244.1.1",
        "10.244.1.254",
        "10.244.1.1",
    )
    assert conf.data_dir == "/var/lib/cni/networks"


def test_disk_store_layout_is_host_locals(tmp_path: Path) -> None:
    store = DiskStore(str(tmp_path), "net")
    with store:
        assert store.reserve(("cid", "eth0"), ip("10.0.0.2"), 0)
        assert not store.reserve(("other", "eth0"), ip("10.0.0.2"), 0)
    assert (tmp_path / "net" / "10.0.0.2").read_bytes() == b"cid\r\neth0"
    assert (tmp_path / "net" / "last_reserved_ip.0").read_text() == "10.0.0.2"
    assert (tmp_path / "net" / "lock").exists()


def test_release_is_exact_never_by_pattern(tmp_path: Path) -> None:
    store = DiskStore(str(tmp_path), "net")
    with store:
        store.reserve(("c1", "eth0"), ip("10.0.0.2"), 0)
        store.reserve(("c1", "eth1"), ip("10.0.0.3"), 0)
        store.reserve(("c10", "eth0"), ip("10.0.0.20"), 0)
        assert store.release_owner(("c1", "eth0")) == [ip("10.0.0.2")]
        assert sorted(map(str, store.reservations())) == ["10.0.0.20", "10.0.0.3"]


def test_dual_stack_owner_is_released(tmp_path: Path) -> None:
    """IPv4 and IPv6 addresses do not compare: sorting them once broke DEL with a TypeError."""
    store = DiskStore(str(tmp_path), "net")
    with store:
        store.reserve(("c1", "eth0"), ip("fd00::2"), 1)
        store.reserve(("c1", "eth0"), ip("10.0.0.2"), 0)
        assert store.release_owner(("c1", "eth0")) == [ip("10.0.0.2"), ip("fd00::2")]
        assert store.reservations() == {}
