"""The runtime's libcni (CNIConfig) against a FakeExec: no root, no namespaces, no binaries."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from lab.cni.config import VALID_ATTACHMENTS, NetworkConfigList
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.fake_exec import FakeExec
from lab.runtime import cache
from lab.runtime.libcni import CNIConfig, RuntimeConf

RT = RuntimeConf(
    "c0ffee",
    "/run/netns/pod",
    "eth0",
    [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")],
    {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
)


def network(version: str = "1.0.0", **extra: Any) -> NetworkConfigList:
    return NetworkConfigList.from_dict(
        {
            "cniVersion": version,
            "name": "testnet",
            "plugins": [
                {"type": "bridge", "ipam": {"type": "host-local"}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
            **extra,
        }
    )


def bridge_add(conf: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "cniVersion": conf["cniVersion"],
        "interfaces": [{"name": env["CNI_IFNAME"]}],
        "ips": [{"address": "10.244.0.7/24", "gateway": "10.244.0.1"}],
    }


def passes_prev(conf: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    return conf["prevResult"]


@pytest.fixture
def fake() -> FakeExec:
    f = FakeExec()
    f.script("bridge", "ADD", bridge_add)
    f.script("portmap", "ADD", passes_prev)
    return f


@pytest.fixture
def cni(fake: FakeExec, tmp_path: Path) -> CNIConfig:
    return CNIConfig(["/opt/cni/bin", "/usr/lib/cni"], str(tmp_path / "cache"), exec=fake)


def cached(cni: CNIConfig) -> dict | None:
    return cache.load(cni.cache_dir, "testnet", RT.container_id, RT.ifname)


def test_add_passes_prev_result_along_the_chain(cni: CNIConfig, fake: FakeExec) -> None:
    result = cni.add_network_list(network(), RT)
    assert fake.commands() == [("bridge", "ADD"), ("portmap", "ADD")]
    assert "prevResult" not in fake.sent(0)
    assert fake.sent(1)["prevResult"] == result == bridge_add(fake.sent(0), fake.calls[0].env)
    for ex in fake.calls:
        assert ex.argv == [f"/opt/cni/bin/{ex.plugin}"]
        assert (fake.sent(0)["name"], fake.sent(0)["cniVersion"]) == ("testnet", "1.0.0")
        assert ex.env["CNI_CONTAINERID"] == "c0ffee"
        assert ex.env["CNI_NETNS"] == "/run/netns/pod"
        assert ex.env["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
        assert ex.env["CNI_PATH"] == "/opt/cni/bin:/usr/lib/cni"


def test_capability_args_only_reach_plugins_that_ask(cni: CNIConfig, fake: FakeExec) -> None:
    cni.add_network_list(network(), RT)
    assert "runtimeConfig" not in fake.sent(0)
    assert fake.sent(1)["runtimeConfig"] == {"portMappings": RT.capability_args["portMappings"]}
    assert "capabilities" in fake.sent(1)  # the plugin's own config goes through untouched


def test_the_cache_holds_the_final_result_after_success(cni: CNIConfig) -> None:
    result = cni.add_network_list(network(), RT)
    entry = cached(cni)
    assert entry is not None and entry["kind"] == "cniCacheV1"
    assert entry["result"] == result
    assert entry["capabilityArgs"] == RT.capability_args
    assert (entry["networkName"], entry["netns"]) == ("testnet", "/run/netns/pod")


def test_a_failed_add_caches_nothing_and_stops_the_chain(cni: CNIConfig, fake: FakeExec) -> None:
    fake.script("bridge", "ADD", CNIError(ErrorCode.IO_FAILURE, "no bridge"))
    with pytest.raises(CNIError) as exc:
        cni.add_network_list(network(), RT)
    assert (exc.value.code, exc.value.msg) == (5, "plugin type='bridge' ADD: no bridge")
    assert fake.commands() == [("bridge", "ADD")]
    assert cached(cni) is None


@pytest.mark.parametrize(
    ("reply", "code"),
    [(None, ErrorCode.DECODE_FAILURE), ({"cniVersion": "1.0.0", "ips": "x"}, None)],
)
def test_add_refuses_no_result_or_garbage(
    cni: CNIConfig, fake: FakeExec, reply: dict | None, code: int | None
) -> None:
    fake.script("portmap", "ADD", reply)
    with pytest.raises(CNIError) as exc:
        cni.add_network_list(network(), RT)
    if code is not None:
        assert exc.value.code == code
    assert cached(cni) is None


def test_del_after_a_failed_add_runs_the_whole_chain_without_prev(
    cni: CNIConfig, fake: FakeExec
) -> None:
    """SPEC: a runtime DELs after a failed ADD; with nothing cached there is no prevResult."""
    fake.script("portmap", "ADD", CNIError(ErrorCode.INTERNAL, "boom"))
    with pytest.raises(CNIError):
        cni.add_network_list(network(), RT)
    cni.del_network_list(network(), RT)
    assert fake.commands()[2:] == [("portmap", "DEL"), ("bridge", "DEL")]
    assert all("prevResult" not in fake.sent(i) for i in (2, 3))


def test_del_runs_in_reverse_with_the_cached_result(cni: CNIConfig, fake: FakeExec) -> None:
    result = cni.add_network_list(network(), RT)
    bare = RuntimeConf(RT.container_id, RT.netns, RT.ifname, RT.args)  # no capability args
    cni.del_network_list(network(), bare)
    assert fake.commands()[2:] == [("portmap", "DEL"), ("bridge", "DEL")]
    assert fake.sent(2)["prevResult"] == fake.sent(3)["prevResult"] == result
    assert fake.sent(2)["runtimeConfig"] == {"portMappings": RT.capability_args["portMappings"]}
    assert cached(cni) is None


def test_del_keeps_the_cache_when_a_plugin_fails(cni: CNIConfig, fake: FakeExec) -> None:
    cni.add_network_list(network(), RT)
    fake.script("bridge", "DEL", CNIError(ErrorCode.TRY_AGAIN_LATER, "busy"))
    with pytest.raises(CNIError):
        cni.del_network_list(network(), RT)
    assert cached(cni) is not None  # a retried DEL still has the result


def test_del_below_0_4_0_sends_no_prev_result(cni: CNIConfig, fake: FakeExec) -> None:
    cni.add_network_list(network("0.3.1"), RT)
    cni.del_network_list(network("0.3.1"), RT)
    assert all("prevResult" not in fake.sent(i) for i in (2, 3))


def test_check_sends_the_cached_result_to_every_plugin(cni: CNIConfig, fake: FakeExec) -> None:
    result = cni.add_network_list(network(), RT)
    cni.check_network_list(network(), RT)
    assert fake.commands()[2:] == [("bridge", "CHECK"), ("portmap", "CHECK")]
    assert fake.sent(2)["prevResult"] == fake.sent(3)["prevResult"] == result


def test_check_is_refused_below_0_4_0(cni: CNIConfig, fake: FakeExec) -> None:
    cni.add_network_list(network("0.3.1"), RT)
    with pytest.raises(CNIError) as exc:
        cni.check_network_list(network("0.3.1"), RT)
    assert exc.value.code == ErrorCode.INCOMPATIBLE_VERSION
    assert len(fake.calls) == 2


def test_check_needs_a_cached_result_unless_disabled(cni: CNIConfig, fake: FakeExec) -> None:
    with pytest.raises(CNIError) as exc:
        cni.check_network_list(network(), RT)
    assert exc.value.code == ErrorCode.UNKNOWN_CONTAINER
    cni.check_network_list(network(disableCheck=True), RT)
    assert fake.calls == []


def test_gc_tells_every_plugin_the_valid_attachments(cni: CNIConfig, fake: FakeExec) -> None:
    fake.script("bridge", "GC", CNIError(ErrorCode.INTERNAL, "cannot"))
    errors = cni.gc_network_list(network("1.1.0"), [("c1", "eth0"), ("c2", "net1")])
    assert [e.msg for e in errors] == ["plugin type='bridge' GC: cannot"]  # portmap still ran
    assert fake.commands() == [("bridge", "GC"), ("portmap", "GC")]
    want = [{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}]
    for i in (0, 1):
        assert all(fake.sent(i)[key] == want for key in VALID_ATTACHMENTS)
        env = fake.calls[i].env
        assert "CNI_CONTAINERID" not in env and "CNI_IFNAME" not in env


@pytest.mark.parametrize("net", [network("1.0.0"), network("1.1.0", disableGC=True)])
def test_gc_is_skipped_below_1_1_0_or_when_disabled(
    cni: CNIConfig, fake: FakeExec, net: NetworkConfigList
) -> None:
    assert cni.gc_network_list(net, []) == []
    assert fake.calls == []


def test_status_asks_every_plugin_and_raises_the_first_error(
    cni: CNIConfig, fake: FakeExec
) -> None:
    cni.get_status(network("1.1.0"))
    assert fake.commands() == [("bridge", "STATUS"), ("portmap", "STATUS")]
    assert set(fake.calls[0].env) == {"CNI_COMMAND", "CNI_PATH", "PATH"}
    fake.script("bridge", "STATUS", CNIError(ErrorCode.NOT_AVAILABLE, "no addresses left"))
    with pytest.raises(CNIError) as exc:
        cni.get_status(network("1.1.0"))
    assert exc.value.code == ErrorCode.NOT_AVAILABLE
    assert fake.commands()[2:] == [("bridge", "STATUS")]
    cni.get_status(network("1.0.0"))  # STATUS is 1.1.0: nothing to ask
    assert len(fake.calls) == 3


def test_a_missing_plugin_or_a_failed_exec_is_a_cni_error(tmp_path: Path) -> None:
    fake = FakeExec(plugins=["bridge"])
    cni = CNIConfig(["/opt/cni/bin"], str(tmp_path), exec=fake)
    fake.script("bridge", "ADD", bridge_add)
    with pytest.raises(CNIError) as exc:
        cni.add_network_list(network(), RT)
    assert exc.value.msg == 'failed to find plugin "portmap" in path [/opt/cni/bin]'
    fake.plugins = None
    fake.script("portmap", "DEL", raises=CNIError(ErrorCode.INTERNAL, "timed out"))
    with pytest.raises(CNIError, match="timed out"):
        cni.del_network_list(network(), RT)


def test_plugins_run_in_the_node_namespace_through_nsenter(tmp_path: Path) -> None:
    fake = FakeExec()
    cni = CNIConfig(["/opt/cni/bin"], str(tmp_path), node_netns="/run/netns/node1", exec=fake)
    cni.get_status(network("1.1.0"))
    argv = fake.calls[0].argv
    assert argv[0].endswith("nsenter") and argv[1:] == [
        "--net=/run/netns/node1",
        "--",
        "/opt/cni/bin/bridge",
    ]
