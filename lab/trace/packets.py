"""Which captured frames belong to the probe, and what they say (decoded by scapy)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.trace.layers import ICMP, IP, TCP, UDP, Ether, IPerror
from lab.trace.probe import Probe

REQUEST, REPLY = "request", "reply"
ETHERTYPE_IPV4 = b"\x08\x00"


@dataclass(frozen=True)
class Seen:
    leg: str  # request | reply
    src_mac: str
    dst_mac: str
    src_ip: str
    dst_ip: str
    ttl: int
    summary: str


def _tcp_flags(tcp: object) -> str:
    return str(tcp.flags)  # type: ignore[attr-defined]


def classify(data: bytes, probe: Probe) -> Seen | None:
    """The probe's request or reply in this frame, or None (ARP, other pings...)."""
    if data[12:14] != ETHERTYPE_IPV4:  # IPv6 and ARP chatter: not worth scapy's dissection
        return None
    frame = Ether(data)
    ip = frame.getlayer(IP)
    if ip is None:
        return None
    leg, summary = None, ""
    if probe.proto == "icmp" and ICMP in ip:
        icmp = ip[ICMP]
        if probe.token in bytes(icmp.payload):
            if icmp.type == 8:
                leg, summary = REQUEST, f"ICMP echo request id={icmp.id}"
            elif icmp.type == 0:
                leg, summary = REPLY, f"ICMP echo reply id={icmp.id}"
            elif IPerror in icmp:
                leg, summary = REPLY, f"ICMP error type={icmp.type} code={icmp.code}"
    elif probe.proto == "udp":
        if UDP in ip and not ip.haslayer(IPerror) and probe.token in bytes(ip[UDP].payload):
            leg, summary = REQUEST, f"UDP {ip[UDP].sport} > {ip[UDP].dport}"
        elif UDP in ip and not ip.haslayer(IPerror) and ip[UDP].sport == probe.port:
            if ip[UDP].dport == probe.sport:
                leg, summary = REPLY, f"UDP {ip[UDP].sport} > {ip[UDP].dport}"
        elif ICMP in ip and ip.haslayer(IPerror) and probe.token in bytes(ip[ICMP].payload):
            icmp = ip[ICMP]
            leg, summary = REPLY, f"ICMP error type={icmp.type} code={icmp.code} (port closed)"
    elif probe.proto == "tcp" and TCP in ip and not ip.haslayer(IPerror):
        tcp = ip[TCP]
        flags = _tcp_flags(tcp)
        if probe.tcp_seq is None and tcp.sport == probe.sport and flags == "S":
            probe.tcp_seq = tcp.seq  # the kernel's SYN, seen leaving the pod
        if probe.tcp_seq is not None:
            if flags == "S" and tcp.seq == probe.tcp_seq:
                leg, summary = REQUEST, f"TCP SYN {tcp.sport} > {tcp.dport}"
            elif "A" in flags and tcp.ack == probe.tcp_seq + 1 and ("S" in flags or "R" in flags):
                what = "SYN-ACK" if "S" in flags else "RST (port closed)"
                leg, summary = REPLY, f"TCP {what} {tcp.sport} > {tcp.dport}"
    if leg is None:
        return None
    return Seen(leg, frame.src, frame.dst, ip.src, ip.dst, ip.ttl, summary)
