"""`cnilab node init`: make this host (or a namespace standing in for it) a node.

The same set-up the embedded lab gives its node namespaces, on a real machine: a
Vagrant VM, a kind or minikube node, any Linux host with root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import click

from lab.cli.main import Exit, fail
from lab.cluster import install as installer
from lab.cluster.node_setup import BRIDGE
from lab.cluster.node_spec import SpecError, make_spec
from lab.cluster.node_state import STATE_FILE, StateError
from lab.cluster.plan import POD_NETWORK, PlanError
from lab.cni.errors import CNIError
from lab.kernel.netns import NETNS_RUN_DIR, NetnsNotFound
from lab.runtime import host_pods


def netns_path(name: str | None) -> str | None:
    """A name in /run/netns or a path; never created here (a typo must not make one)."""
    if name is None:
        return None
    path = name if "/" in name else os.path.join(NETNS_RUN_DIR, name)
    if "/" not in name and (name in (".", "..") or not name.strip()):
        fail(f"--netns: invalid namespace name {name!r}", Exit.USAGE)
    if not os.path.exists(path):
        fail(f"--netns: no network namespace {name!r} (`ip netns list` shows them)", Exit.USAGE)
    return path


def default_state_file(netns: str | None) -> Path:
    if netns is None:
        return STATE_FILE
    return STATE_FILE.with_name(f"node-{Path(netns).name}.json")


@click.group()
def node() -> None:
    """Real hosts: make this machine a node of the pod network."""


@node.command()
@click.option("--pod-cidr", help="This node's pod CIDR, e.g. 10.244.0.0/24.")
@click.option("--node-ip", help="This node's address on the underlay, e.g. 192.168.56.11.")
@click.option(
    "--peer",
    "peers",
    multiple=True,
    metavar="CIDR=IP",
    help="Another node: its pod CIDR and address (repeat for each).",
)
@click.option("--pod-network", default=str(POD_NETWORK), show_default=True)
@click.option("--bridge", default=BRIDGE, show_default=True)
@click.option("--netns", help="Do it in this namespace, standing in for a host.")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CNILAB_NODE_STATE",
    help=f"Where to record what changed [default: {STATE_FILE}, node-NETNS.json with --netns].",
)
@click.option("--undo", is_flag=True, help="Restore what init changed, from the state file.")
@click.option("--force", is_flag=True, help="With --undo: remove the bridge even with pods on it.")
def init(
    pod_cidr: str | None,
    node_ip: str | None,
    peers: tuple[str, ...],
    pod_network: str,
    bridge: str,
    netns: str | None,
    state_file: Path | None,
    undo: bool,
    force: bool,
) -> None:
    """Bridge with the pod gateway, routes to peers' pods, forwarding, masquerade.

    Idempotent: run it again with the same options and nothing changes (add or drop
    --peer to follow nodes joining or leaving). `--undo` restores the host exactly.
    """
    from lab.cluster import host

    path = netns_path(netns)
    state_file = state_file or default_state_file(path)
    try:
        if undo:
            state = host.undo(state_file, path, force=force)
            click.echo("nothing to undo" if state is None else f"restored; removed {state_file}")
            return
        if not pod_cidr or not node_ip:
            fail("--pod-cidr and --node-ip are required (or --undo)", Exit.USAGE)
        spec = make_spec(pod_cidr, node_ip, peers, pod_network, bridge)  # type: ignore[arg-type]
        state = host.init(spec, state_file, path)
    except SpecError as e:
        fail(str(e), Exit.USAGE)
    except NetnsNotFound as e:
        fail(f"--netns: {e.strerror}", Exit.USAGE)
    except (host.NodeInitError, StateError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
    where = f"namespace {path}" if path else "this host"
    click.echo(f"{where} is a node: pods {spec.pod_cidr} on {spec.bridge} ({spec.gateway})")
    for peer in spec.peers:
        click.echo(f"  route {peer.pod_cidr} via {peer.address}")
    was = state.before.ip_forward
    click.echo(f"  ip_forward 1{'' if was == '1' else f' (was {was})'}")
    click.echo(f"  masquerade {spec.pod_network} -> elsewhere (nft table ip cnilab)")
    for o in state.openings:
        nft = f"nft {o.family} {o.table} {o.chain}"
        chain = "iptables FORWARD" if o.tool == "iptables" else nft
        click.echo(f"  accept {spec.pod_network} in {chain} (its policy is drop)")
    click.echo(f"state: {state_file} (`cnilab node init --undo` restores)")


@node.group()
def pod() -> None:
    """Pods on this node without a container runtime: a namespace each, attached by CNI."""


POD_OPTIONS = [
    click.option("--netns", help="The namespace standing in for this host."),
    click.option("--bin-dir", default=str(installer.BIN_DIR), show_default=True),
    click.option("--conf-dir", default=str(installer.CONF_DIR), show_default=True),
    click.option("--cache-dir", default=host_pods.CACHE_DIR, show_default=True),
    click.option("--prefix", default=host_pods.PREFIX, show_default=True, help="Of namespaces."),
]


def with_pod_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(POD_OPTIONS):
        fn = option(fn)
    return fn


def host_runtime(options: dict[str, str | None]) -> host_pods.HostRuntime:
    prefix = options["prefix"] or ""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$", prefix):
        fail(f"--prefix: invalid namespace prefix {prefix!r}", Exit.USAGE)
    folders = [os.path.abspath(options[k] or ".") for k in ("bin_dir", "conf_dir", "cache_dir")]
    return host_pods.HostRuntime(*folders, node_netns=netns_path(options["netns"]), prefix=prefix)


@pod.command("add")
@click.argument("name")
@with_pod_options
def pod_add(name: str, **options: str | None) -> None:
    """Create pod NAME (namespace PREFIX+NAME) and attach it with the node's CNI config."""
    runtime = host_runtime(options)
    try:
        result = runtime.add(name)
    except PlanError as e:
        fail(str(e), Exit.USAGE)
    except host_pods.HostPodError as e:
        fail(str(e))
    except CNIError as e:
        fail(f"ADD failed: {e.msg}{f' ({e.details})' if e.details else ''}")
    except OSError as e:
        fail(f"cannot make pod {name}: {e.strerror or e}")
    ips = ", ".join(ip["address"] for ip in result.get("ips", []))
    click.echo(f"pod {name}: {ips} in namespace {runtime.prefix}{name}")


@pod.command("del")
@click.argument("name")
@with_pod_options
def pod_del(name: str, **options: str | None) -> None:
    """Run DEL for pod NAME and remove its namespace (again: nothing to do)."""
    runtime = host_runtime(options)
    try:
        found = runtime.delete(name)
    except PlanError as e:
        fail(str(e), Exit.USAGE)
    except CNIError as e:
        fail(f"DEL failed: {e.msg}{f' ({e.details})' if e.details else ''}")
    except OSError as e:
        fail(f"cannot remove pod {name}: {e.strerror or e}")
    click.echo(f"deleted pod {name}" if found else f"no pod {name}")
