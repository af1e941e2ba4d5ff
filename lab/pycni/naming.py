"""Names derived from (network, container ID, ifname), so DEL and GC find what ADD made."""

from __future__ import annotations

import hashlib

HOST_VETH_PREFIX = "veth"
TAG_MAX = 128  # nftables' comment limit
ALIAS_PREFIX = "pycni "


def _digest(container_id: str, ifname: str) -> str:
    return hashlib.sha256(f"{container_id}/{ifname}".encode()).hexdigest()


def host_veth_name(container_id: str, ifname: str) -> str:
    """15 characters, stable, unlikely to collide: "veth" + 11 hex digits."""
    return HOST_VETH_PREFIX + _digest(container_id, ifname)[:11]


def attachment_tag(network: str, container_id: str, ifname: str) -> str:
    """Readable when it fits an nft comment (128 bytes), hashed otherwise."""
    tag = f"{network} {container_id} {ifname}"
    if len(tag) <= TAG_MAX:
        return tag
    return f"{network} #{_digest(container_id, ifname)[:32]}"


def veth_alias(tag: str) -> str:
    """Marks a host veth as pycni's (IFLA_IFALIAS), so GC never touches anyone else's."""
    return ALIAS_PREFIX + tag
