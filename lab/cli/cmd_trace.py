"""`cnilab trace SRC DST`: one probe, every hop it took, and why it stopped if it did."""

from __future__ import annotations

import json

import click

from lab.cli.main import Exit, Lab, fail, pass_lab


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option(
    "--proto", type=click.Choice(["icmp", "tcp", "udp"]), default="icmp", show_default=True
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="For tcp and udp.")
@click.option("--timeout", type=click.FloatRange(0.1, 10), default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_lab
def trace(
    lab: Lab, src: str, dst: str, proto: str, port: int, timeout: float, as_json: bool
) -> None:
    """Follow a probe from pod SRC to DST (a pod, a node, `internet` or an address)."""
    from lab.trace.tracer import TraceError
    from lab.trace.tracer import trace as run_trace

    try:
        result = run_trace(lab.require_plan(), src, dst, proto, port, timeout)
    except TraceError as e:
        fail(str(e), Exit.USAGE)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        target = f"{dst} ({result.dst_ip})" if dst != result.dst_ip else dst
        click.secho(f"{proto} {src} -> {target}", bold=True)
        leg = ""
        for i, h in enumerate(result.hops, 1):
            if h.leg != leg:
                leg = h.leg
                click.secho(f"  {leg}", fg="cyan")
            where = f"{h.node or '-':6} {h.netns:18} {h.ifname:16} {h.direction:6}"
            addr = f"{h.src_ip} > {h.dst_ip}"
            click.echo(
                f"  {i:2} {h.ms:7.3f}ms {where} {addr:33} ttl {h.ttl:3}  {h.src_mac} > {h.dst_mac}"
            )
            click.secho(f"                {h.action}", dim=True)
        if result.replied:
            click.secho(
                f"reply received; {len(result.hops)} hops in {result.ms:.0f} ms", fg="green"
            )
        else:
            click.secho(f"no reply: {result.why}", fg="red")
    raise SystemExit(0 if result.replied else int(Exit.FAILED))
