"""Which network a node's runtime uses: the first valid config in its conf dir.

libcni/kubelet order: files sorted by name; `.conflist` is a list, `.conf`/`.json` a
single plugin wrapped into a list; invalid files are skipped with a reason; a config
whose plugins are not all in CNI_PATH is skipped too (containerd waits for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.cni.config import NetworkConfigList
from lab.cni.errors import CNIError
from lab.cni.invoke import find_in_path

EXTENSIONS = (".conflist", ".conf", ".json")


@dataclass(frozen=True)
class Candidate:
    path: Path
    network: NetworkConfigList | None
    problem: str = ""


def read_candidates(conf_dir: str | Path, cni_path: list[str]) -> list[Candidate]:
    found = []
    folder = Path(conf_dir)
    files = sorted(p for p in folder.iterdir() if p.suffix in EXTENSIONS) if folder.is_dir() else []
    for path in files:
        try:
            net = NetworkConfigList.from_file_bytes(path.name, path.read_bytes())
            for plugin in net.plugins:
                find_in_path(str(plugin["type"]), cni_path)
        except CNIError as e:
            found.append(Candidate(path, None, str(e)))
        except OSError as e:
            found.append(Candidate(path, None, f"cannot read: {e.strerror}"))
        else:
            found.append(Candidate(path, net))
    return found


def select_network(
    conf_dir: str | Path, cni_path: list[str], name: str = "", skip: frozenset[str] = frozenset()
) -> NetworkConfigList:
    """The first usable network (or the one called `name`), leaving out those in `skip`.

    `skip` lets a pod's second interface land on the next network, as Multus would
    attach an additional network (the seed adds flannel's NIC by hand).
    """
    candidates = read_candidates(conf_dir, cni_path)
    for c in candidates:
        if c.network is not None and (
            c.network.name == name if name else c.network.name not in skip
        ):
            return c.network
    why = "; ".join(f"{c.path.name}: {c.problem}" for c in candidates if c.problem)
    wanted = f"network {name!r}" if name else "usable network config"
    raise CNIError(7, f"no {wanted} in {conf_dir}", why or "no (other) config files")
