"""`pycni-ipam`: host-local compatible IPAM as its own executable."""

from __future__ import annotations

import sys


def main() -> None:
    from lab.cni.skel import main as skel_main
    from lab.pycni.ipam.plugin import IPAMPlugin

    sys.exit(skel_main(IPAMPlugin(), about="pycni-ipam: host-local compatible IPAM (cnilab)"))


if __name__ == "__main__":
    main()
