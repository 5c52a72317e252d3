"""The campaign's control group: stratified permuted blocks over the ranked list.

Within each risk tier, going down the ranking, users sit in consecutive blocks of ``B``
(at least 10) and ``c`` random users of each block are control, ``c / B`` = the control
share (as a fraction with denominator at most 100: 0.1 -> 1 of 10, 0.25 -> 3 of 12). Every
user is control with probability ``c / B``; every prefix of the ranking (every list size)
holds that share of each tier as control, to within one block. Blocks are drawn from
``numpy.random.default_rng([seed, tier number])``, so seed, share and the ranking
reproduce the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from churn_core.targets import TIERS

TREAT, CONTROL = "treat", "control"


def control_blocks(share: float) -> tuple[int, int]:
    """(block size B, controls per block c): ``share`` as a fraction with denominator at
    most 100, the block at least 10 users long (0.1 -> (10, 1), 0.25 -> (12, 3))."""
    frac = Fraction(share).limit_denominator(100)
    reps = max(1, -(-10 // frac.denominator))
    return frac.denominator * reps, frac.numerator * reps


def assign_control(tiers: Sequence[str], share: float, seed: int) -> np.ndarray:
    """Control flags for users in rank order: stratified permuted blocks (see the module
    docstring). The flags of the first ``k`` users depend only on those users' tiers,
    ``share`` and ``seed``, so a list of any size reproduces its own split."""
    ranked = np.asarray(tiers, dtype=object)
    out = np.zeros(len(ranked), dtype=bool)
    if share <= 0 or len(ranked) == 0:
        return out
    size, per_block = control_blocks(share)
    names = list(TIERS) + sorted(set(ranked.tolist()) - set(TIERS))
    for number, tier in enumerate(names):
        pos = np.flatnonzero(ranked == tier)
        if len(pos) == 0:
            continue
        blocks = -(-len(pos) // size)
        rng = np.random.default_rng([int(seed), number])
        # per block: a random permutation of its slots; the first per_block are control
        slots = np.argsort(rng.random((blocks, size)), axis=1)[:, :per_block]
        j = (slots + size * np.arange(blocks)[:, None]).ravel()
        out[pos[j[j < len(pos)]]] = True
    return out
