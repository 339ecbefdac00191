"""Published numbers kerastag compares its results against (see shared/PAPERS.md)."""

from __future__ import annotations

CHIME_HOME_TAGS = ("c", "m", "f", "v", "p", "b", "o")
CHIME_HOME_TAG_NAMES = {
    "c": "child speech",
    "m": "adult male speech",
    "f": "adult female speech",
    "v": "video game/TV",
    "p": "percussive sounds",
    "b": "broadband noise",
    "o": "other identifiable sounds",
}

# Paper A, Table 1: (model, augmentation, alpha) -> per-tag EER in CHIME_HOME_TAGS order,
# the average and the variance x 1e-3. ``alpha`` is None where the row has none.
PAPER_A_TABLE1 = {
    ("DAE-DNN", "-", None): ((.21, .15, .21, .02, .18, .01, .26), .15, 9.45),
    ("CGRNN", "IMD", None): ((.17, .16, .18, .03, .15, .00, .24), .13, 7.39),
    ("ATT-LOC", "IMD", None): ((.09, .14, .17, .03, .12, .01, .24), .11, 6.36),
    ("CRNN", "mixup", 0.0): ((.09, .11, .14, .04, .15, .06, .26), .13, 6.13),
    ("CRNN", "mixup", 0.1): ((.10, .23, .15, .02, .15, .03, .23), .13, 7.30),
    ("CRNN", "mixup", 0.5): ((.09, .16, .11, .03, .14, .03, .24), .11, 5.56),
    ("CRNN", "mixup", 1.0): ((.09, .12, .11, .02, .12, .03, .26), .11, 6.25),
    ("CRNN", "mixup", 1.5): ((.10, .14, .11, .03, .10, .01, .20), .10, 4.11),
    ("CRNN", "mixup", 2.0): ((.10, .11, .11, .03, .11, .00, .25), .10, 6.28),
    ("CRNN", "mixup", 5.0): ((.13, .14, .08, .02, .12, .00, .24), .11, 6.52),
    ("CRNN", "samplepairing", None): ((.10, .20, .15, .01, .16, .03, .24), .13, 7.26),
    ("CRNN", "mixup_lp", 1.5): ((.12, .13, .12, .02, .12, .00, .25), .11, 6.52),
    ("CRNN", "extrapolation", 1.5): ((.10, .16, .13, .03, .14, .02, .23), .12, 5.43),
}

# The DCASE 2016 Task 4 challenge baseline (MFCC + GMM per tag): average EER over the
# development folds; the paper has no per-tag values or variance for it.
DCASE2016_BASELINE = ("MFCC-GMM", "-", None)
DCASE2016_BASELINE_AVG_EER = 0.21

#: The dataset layouts whose results are set beside a paper: paper A's Table 1 is on
#: CHiME-Home, paper B's leaderboard on FSDKaggle2018 (``dataset.layout`` of a config).
PAPER_A_LAYOUT = "chime-home"
PAPER_B_LAYOUT = "fsdkaggle2018"

# Paper B (DCASE 2018 Task 2), mAP@3 on the public leaderboard.
PAPER_B_MAP3 = {
    "stack": 0.977,
    "best_single_resnext": 0.967,
    "challenge_baseline": 0.70,
}

#: Paper B's best single model, as a row of ours: (network, features, mixing).
PAPER_B_BEST_SINGLE_ROW = ("resnext50", "logmel", "mixup")


def paper_b_row(network: str, features: str, mixing: str) -> float | None:
    """The paper's single-model mAP@3 for a paper-B row that is its best single model
    (ResNeXt on log-mel with mixup), else None."""
    if (network, features, mixing) == PAPER_B_BEST_SINGLE_ROW:
        return PAPER_B_MAP3["best_single_resnext"]
    return None


def paper_a_row(model: str, mixing: str, alpha: float | None):
    """Return Table 1's (per-tag EERs, average, var x 1e-3) for a row, or None.

    ``mixup`` with alpha 0 is the table's 'no augmentation' CRNN row; a mixing mode
    ``none`` maps to it too. SamplePairing rows match whatever alpha they carry. The
    challenge baseline (``MFCC-GMM``) gives ``(None, 0.21, None)``: only its average is
    published.
    """
    if (model, mixing, alpha) == DCASE2016_BASELINE:
        return None, DCASE2016_BASELINE_AVG_EER, None
    if mixing == "none":
        mixing, alpha = "mixup", 0.0
    if mixing == "samplepairing":
        alpha = None
    key = (model, mixing, None if alpha is None else float(alpha))
    return PAPER_A_TABLE1.get(key)


def compares_with_paper_a(layout: str, classes) -> bool:
    """Whether a tagging run's results are set beside paper A's Table 1 (its numbers, the
    tag letters' long names): only on CHiME-Home with its seven tags in their order.

    Args:
        layout: the run's ``dataset.layout``.
        classes: the dataset's classes, in the model's output order.
    """
    return layout == PAPER_A_LAYOUT and tuple(classes) == CHIME_HOME_TAGS


def compares_with_paper_b(layout: str) -> bool:
    """Whether a classification run's mAP@3 is set beside paper B's: only on
    FSDKaggle2018 (``layout`` is the run's ``dataset.layout``)."""
    return layout == PAPER_B_LAYOUT
