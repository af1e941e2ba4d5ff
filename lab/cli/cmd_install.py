"""`cnilab install`: pycni, pycni-ipam and their conflist into a node's CNI folders."""

from __future__ import annotations

import os
from pathlib import Path

import click

from lab.cli.main import Exit, fail
from lab.cluster import install as installer
from lab.cluster.node_setup import BRIDGE
from lab.cluster.node_spec import SpecError, parse_network, validate_bridge
from lab.cni.version import SUPPORTED_VERSIONS

FOLDER = click.Path(file_okay=False, path_type=Path)


def absolute(path: str, option: str) -> str:
    """pycni's config needs absolute paths: the plugin runs from wherever the runtime is."""
    if not path.strip():
        fail(f"{option}: empty path", Exit.USAGE)
    return os.path.abspath(path)


@click.command()
@click.option("--pod-cidr", help="This node's pod CIDR, e.g. 10.244.0.0/24.")
@click.option("--bin-dir", type=FOLDER, default=str(installer.BIN_DIR), show_default=True)
@click.option("--conf-dir", type=FOLDER, default=str(installer.CONF_DIR), show_default=True)
@click.option("--data-dir", default=installer.DATA_DIR, show_default=True, help="IPAM store.")
@click.option("--log-file", default=installer.LOG_FILE, show_default=True)
@click.option("--bridge", default=BRIDGE, show_default=True)
@click.option(
    "--cni-version",
    type=click.Choice(SUPPORTED_VERSIONS),
    default=installer.CNI_VERSION,
    show_default=True,
    help="The conflist's cniVersion (1.1.0 needs a runtime with libcni 1.2 or later).",
)
@click.option("--force", is_flag=True, help="Replace files that cnilab did not write.")
@click.option("--uninstall", "remove", is_flag=True, help="Remove what install wrote.")
def install(
    pod_cidr: str | None,
    bin_dir: Path,
    conf_dir: Path,
    data_dir: str,
    log_file: str,
    bridge: str,
    cni_version: str,
    force: bool,
    remove: bool,
) -> None:
    """Install pycni and a conflist for this node's pod CIDR (atomically; again: same files)."""
    spec = installer.InstallSpec(bin_dir, conf_dir)
    try:
        if remove:
            removed, kept = installer.uninstall(spec)
            for path in removed:
                click.echo(f"removed {path}")
            for path in kept:
                click.echo(f"left {path}: not written by cnilab")
            if not removed and not kept:
                click.echo("nothing to remove")
            return
        if not pod_cidr:
            fail("--pod-cidr is required (or --uninstall)", Exit.USAGE)
        spec = installer.InstallSpec(
            bin_dir=bin_dir,
            conf_dir=conf_dir,
            pod_cidr=str(parse_network(pod_cidr, "--pod-cidr")),  # type: ignore[arg-type]
            data_dir=absolute(data_dir, "--data-dir"),
            log_file=absolute(log_file, "--log-file"),
            bridge=validate_bridge(bridge),
            cni_version=cni_version,
        )
        written = installer.install(spec, force=force)
    except SpecError as e:
        fail(str(e), Exit.USAGE)
    except installer.InstallError as e:
        fail(str(e))
    except OSError as e:  # a folder we may not even look into (not root?)
        fail(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
    for path in written:
        click.echo(f"wrote {path}")
    for path in installer.shadowing(spec):
        click.secho(f"note: a runtime picks {path} first (configs are taken by name)", fg="yellow")
