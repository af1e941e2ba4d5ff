"""The two-VM tier: `make test-vms` sets CNILAB_VMS=1; the ordinary run skips it (it takes
many minutes of TCG). One module-scoped pair of VMs; on failure the serial consoles and
the provisioning logs are kept in $CNILAB_VM_LOGS (default /tmp/cnilab-vm-logs)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENABLED = os.environ.get("CNILAB_VMS") == "1"
LOGS = Path(os.environ.get("CNILAB_VM_LOGS", "/tmp/cnilab-vm-logs"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if ENABLED and os.geteuid() == 0:
        return
    why = "needs root" if ENABLED else "the VM tier runs with `make test-vms` (CNILAB_VMS=1)"
    for item in items:
        if "tests/vms/" in item.nodeid and "unit" not in item.keywords:
            item.add_marker(pytest.mark.skip(reason=why))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: a VM-tier test that needs no VM")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed:
        item.session.stash.setdefault(FAILED, []).append(item.nodeid)  # type: ignore[arg-type]
    return report


FAILED = pytest.StashKey[list[str]]()


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[object]:
    from vms.cluster import VagrantLab
    from vms.image import cache_root, ensure_image
    from vms.source import ensure_source

    started = time.monotonic()
    image = ensure_image()
    source = ensure_source(image, cache_root())
    built = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="cnilab-vms-") as tmp:
        vms = VagrantLab(image, source, Path(tmp))
        vms.timings["image_and_source_s"] = built
        try:
            vms.up()
            yield vms
        except BaseException:
            vms.keep_logs(LOGS)
            raise
        finally:
            if request.session.stash.get(FAILED, []):
                vms.keep_logs(LOGS)
            print("\nVM tier timings:", {k: round(v, 1) for k, v in vms.timings.items()})
            vms.close()
