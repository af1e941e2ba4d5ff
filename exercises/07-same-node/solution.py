"""Step 6: two pods on one node (reference solution).

The fix is one line of the starter: `state="up"` on the host end of the veth. Fixed,
the starter is exactly step 5's reference ADD, so this solution is that plugin.
"""

from __future__ import annotations

import sys

from lab.cni.skel import main
from lab.exercises.kit import reference

Plugin = reference("add")

if __name__ == "__main__":
    sys.exit(main(Plugin()))
