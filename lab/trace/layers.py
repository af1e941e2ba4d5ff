"""The scapy layers the tracer uses, imported without scapy's start-up route tables.

scapy reads the host's IPv4 and IPv6 routing tables when its route modules are first
imported (conf.route, conf.route6). The tracer never routes through scapy: probes go
out through the pod's own sockets, and capture decodes frames. So the autoload is off,
which takes a fifth to a quarter of `cnilab trace`'s scapy import away
(bench/trace_import.py).
"""

from __future__ import annotations

from scapy.config import conf

conf.route_autoload = False
conf.route6_autoload = False

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

__all__ = ["ICMP", "IP", "TCP", "UDP", "Ether", "IPerror", "Raw"]
