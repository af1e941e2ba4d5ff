"""Step 15 starts by hiding one fault of the cluster catalogue in the lab, at random."""

from __future__ import annotations

from pathlib import Path

from lab.cluster.plan import Plan
from lab.exercises.trouble import clear_trouble, start_trouble

STEP = "trouble-cluster"


def start(plan: Plan, workspace_dir: Path) -> None:
    """A fresh fault each time (never the kind just replaced); the last scene is removed."""
    start_trouble(plan, STEP)


def stop(plan: Plan) -> None:
    """Give up on the fault: remove the step's pods and repair the nodes."""
    clear_trouble(plan)
