"""Hypothesis profiles for the fuzz tier.

- "ci" (the default): a fixed number of cases from a fixed seed (`derandomize`), so a
  run in CI is the same run every time and fits in its share of `make test`.
- "bench": what `bench/fuzz.py` selects; at least 10,000 cases per target.

CNILAB_FUZZ_EXAMPLES overrides the count of either profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 150
BENCH_EXAMPLES = 10_000


def _examples(default: int) -> int:
    return int(os.environ.get("CNILAB_FUZZ_EXAMPLES", default))


_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("ci", max_examples=_examples(CI_EXAMPLES), derandomize=True, **_COMMON)
settings.register_profile(
    "bench", max_examples=_examples(BENCH_EXAMPLES), derandomize=False, **_COMMON
)
settings.load_profile(os.environ.get("CNILAB_FUZZ_PROFILE", "ci"))
