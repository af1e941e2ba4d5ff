"""Step 15: the diagnosis of the hidden cluster fault, then the fix, in the kernel and on
the wire (see lab/exercises/trouble_check.py, shared with step 10)."""

from __future__ import annotations

from lab.exercises.checker import Checker
from lab.exercises.trouble_check import Hints, check_trouble

HINTS = Hints(fault=1, node=2, object=3, file=4, traffic=5, state=6)


def check(c: Checker) -> None:
    check_trouble(c, "trouble-cluster", HINTS)
