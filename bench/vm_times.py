"""Times of the VM tier's pieces: a cold image build (into a fresh cache, removed after),
the package source, then boot + `vagrant up`'s steps on two QEMU TCG VMs, and a reboot.
Run as root: .venv/bin/python bench/vm_times.py [--warm] (--warm reuses the cached image)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vms.cluster import VagrantLab
from vms.image import cache_root, ensure_image
from vms.source import ensure_source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", action="store_true", help="use the cached image")
    args = parser.parse_args()
    cache = cache_root() if args.warm else Path(tempfile.mkdtemp(prefix="cnilab-vm-bench-"))
    times: dict[str, float] = {}
    try:
        started = time.monotonic()
        image = ensure_image(cache)
        times["image_s"] = time.monotonic() - started
        started = time.monotonic()
        source = ensure_source(image, cache)
        times["source_s"] = time.monotonic() - started
        with tempfile.TemporaryDirectory(prefix="cnilab-vms-") as tmp:
            lab = VagrantLab(image, source, Path(tmp))
            try:
                lab.up()
                started = time.monotonic()
                lab.reboot()
                times["reboot_s"] = time.monotonic() - started
            finally:
                times.update(lab.timings)
                lab.close()
    finally:
        if not args.warm:
            shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps({k: round(v, 1) for k, v in times.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
