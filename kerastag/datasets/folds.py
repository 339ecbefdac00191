"""Seeded, stratified assignment of clips to cross-validation folds."""

from __future__ import annotations

import numpy as np


def stratified_folds(labels: list[str], *, n_folds: int = 5, seed: int = 0) -> list[int]:
    """Assign each clip a fold 0..n_folds-1, balancing every label across folds.

    Clips are shuffled with ``seed``, then dealt round-robin within each label, with the
    starting fold rotating from label to label so fold sizes stay within one of each other
    overall. Unlike sklearn's ``StratifiedKFold`` this never fails for rare labels.

    Args:
        labels: the stratification label of each clip (e.g. its first tag; "" for none).

    Returns:
        fold of each clip, in input order.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    folds = [0] * len(labels)
    next_fold = 0
    for label in sorted(set(labels)):
        members = [i for i in order if labels[i] == label]
        for offset, index in enumerate(members):
            folds[index] = (next_fold + offset) % n_folds
        next_fold = (next_fold + len(members)) % n_folds
    return folds
