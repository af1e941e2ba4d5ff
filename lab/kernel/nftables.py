"""nftables through `nft`'s JSON interface: no rule text is ever built from strings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

NFT_TIMEOUT = 10.0


class NftError(RuntimeError):
    pass


def _nft() -> str:
    # A runtime may give the plugin an empty PATH; nft lives in sbin.
    candidates = (shutil.which("nft"), "/usr/sbin/nft", "/sbin/nft")
    path = next((p for p in candidates if p and os.access(p, os.X_OK)), None)
    if not path:
        raise NftError("nft is not installed (apt-get install nftables)")
    return path


def run_nft(commands: list[dict[str, Any]]) -> None:
    """Apply a batch atomically: the kernel takes all of it or none."""
    payload = json.dumps({"nftables": commands})
    proc = subprocess.run(
        [_nft(), "-j", "-f", "-"],
        input=payload,
        capture_output=True,
        text=True,
        timeout=NFT_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise NftError(f"nft refused the change: {proc.stderr.strip() or proc.stdout.strip()}")


def list_rules(family: str, table: str, chain: str) -> list[dict[str, Any]]:
    """The chain's rules; empty when the table or chain does not exist."""
    proc = subprocess.run(
        [_nft(), "-j", "list", "chain", family, table, chain],
        capture_output=True,
        text=True,
        timeout=NFT_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        if "No such file or directory" in proc.stderr:
            return []
        raise NftError(f"nft could not list {family} {table} {chain}: {proc.stderr.strip()}")
    items = json.loads(proc.stdout).get("nftables", [])
    return [item["rule"] for item in items if "rule" in item]


def nat_postrouting(family: str, table: str, chain: str = "postrouting") -> list[dict[str, Any]]:
    """The table and its source-NAT base chain (`type nat hook postrouting priority 100`),
    as idempotent `add` commands to put in front of a batch."""
    return [
        {"add": {"table": {"family": family, "name": table}}},
        {
            "add": {
                "chain": {
                    "family": family,
                    "table": table,
                    "name": chain,
                    "type": "nat",
                    "hook": "postrouting",
                    "prio": 100,
                    "policy": "accept",
                }
            }
        },
    ]


def prefix(network: Any) -> dict[str, Any]:
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}


def match(proto: str, field: str, op: str, right: Any) -> dict[str, Any]:
    return {
        "match": {
            "op": op,
            "left": {"payload": {"protocol": proto, "field": field}},
            "right": right,
        }
    }
