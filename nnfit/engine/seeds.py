"""Seeds to streams: one ``numpy.random.SeedSequence`` root per seed and purpose.

A run has two seeds, ``data.seed`` and ``training.seed``, both 0 by default. Each is mixed
with a tag of its purpose before it is split, so that equal seeds still give unrelated
streams: the initial weights are never the training points' stream, the shuffles never
the validation points'.
"""

from __future__ import annotations

import numpy as np

#: purpose tags mixed into a seed's entropy (any fixed, distinct numbers)
DATA, TRAINING = 0xDA7A, 0x7EA1


def root(seed: int, purpose: int) -> np.random.SeedSequence:
    """The root sequence of ``seed`` for ``purpose`` (:data:`DATA` or :data:`TRAINING`)."""
    return np.random.SeedSequence([int(seed), purpose])


def streams(seed: int, purpose: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators of ``seed`` for ``purpose``."""
    return [np.random.default_rng(s) for s in root(seed, purpose).spawn(n)]
