"""The DCASE 2016 Task 4 challenge baseline: per tag, one GMM of the frames of chunks
with the tag and one of chunks without it; a chunk's score is the log-likelihood ratio.

Fitting uses scikit-learn's ``GaussianMixture`` (k-means initialisation, EM); scoring is
numpy alone, so a saved model (:mod:`kerastag.formats.gmm_model`, plain JSON) scores new
audio without scikit-learn. Frames are standardised with the training frames' mean and
standard deviation first, as the challenge code did per fold.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerastag.checks import check_int
from kerastag.errors import ModelError

COVARIANCE_TYPES = ("diag", "full")

#: The file name ending of a saved model (see :mod:`kerastag.formats.gmm_model`).
FILE_SUFFIX = ".gmm.json"


@dataclasses.dataclass
class Gmm:
    """One Gaussian mixture: ``weights (K,)``, ``means (K, D)``, ``covariances`` ``(K, D)``
    (diag) or ``(K, D, D)`` (full)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """``log p(x_n)`` of frames ``x`` ``(N, D)`` -> ``(N,)`` (float64)."""
        x = np.asarray(x, dtype=np.float64)
        per_component = np.stack([_log_gaussian(x, mean, cov)
                                  for mean, cov in zip(self.means, self.covariances)], axis=1)
        joint = per_component + np.log(self.weights)
        top = joint.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))[:, 0]


@dataclasses.dataclass
class TagGmms:
    """The fitted baseline: for each tag a ``(absent, present)`` pair of :class:`Gmm`.

    Attributes:
        n_classes: tags, in the dataset's order.
        frame_mean, frame_std: standardisation of the input frames ``(D,)``.
        pairs: ``pairs[k] = (absent, present)`` of tag ``k``.
        covariance_type: ``"diag"`` or ``"full"``.
    """

    frame_mean: np.ndarray
    frame_std: np.ndarray
    pairs: list[tuple[Gmm, Gmm]]
    covariance_type: str = "diag"

    file_suffix = FILE_SUFFIX

    @property
    def n_classes(self) -> int:
        return len(self.pairs)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, *, n_components: int = 8,
            covariance: str = "diag", max_iter: int = 100, tol: float = 1e-3,
            reg_covar: float = 1e-3, seed: int = 0) -> "TagGmms":
        """Fit every tag's present and absent GMMs.

        Args:
            x: frames of each training chunk ``(chunks, frames, D)``.
            y: tags ``(chunks, tags)`` 0/1.
            n_components: mixture components per GMM (the baseline: 8).
            covariance: ``"diag"`` or ``"full"``.
            max_iter, tol, reg_covar: EM settings (the baseline's ``n_iter``, ``tol``
                and ``min_covar``).
            seed: ``random_state`` of every GMM (k-means initialisation).

        Raises:
            ModelError: a tag without chunks on one side, or too few frames.
        """
        from sklearn.mixture import GaussianMixture

        n_components = check_int("n_components", n_components, minimum=1, error=ModelError)
        if covariance not in COVARIANCE_TYPES:
            raise ModelError(f"covariance: expected one of {', '.join(COVARIANCE_TYPES)}, "
                             f"got {covariance!r}")
        frames = np.asarray(x, dtype=np.float64)
        mean, std = frame_statistics(frames)
        frames = (frames - mean) / std
        pairs = []
        for tag in range(y.shape[1]):
            sides = []
            for present in (False, True):
                chosen = frames[(y[:, tag] > 0.5) == present].reshape(-1, frames.shape[-1])
                if len(chosen) < n_components:
                    raise ModelError(f"tag {tag}: {len(chosen)} training frames "
                                     f"{'with' if present else 'without'} it, need at least "
                                     f"n_components={n_components}")
                mixture = GaussianMixture(n_components, covariance_type=covariance,
                                          max_iter=max_iter, tol=tol, reg_covar=reg_covar,
                                          random_state=seed).fit(chosen)
                sides.append(Gmm(mixture.weights_, mixture.means_, mixture.covariances_))
            pairs.append((sides[0], sides[1]))
        return cls(mean, std, pairs, covariance)

    def frame_scores(self, clip: np.ndarray) -> np.ndarray:
        """Per-frame log-likelihood ratios ``log p(x|present) - log p(x|absent)`` of one
        clip's frames ``(frames, D)`` -> ``(frames, tags)``."""
        z = (np.asarray(clip, dtype=np.float64) - self.frame_mean) / self.frame_std
        return np.stack([present.log_likelihood(z) - absent.log_likelihood(z)
                         for absent, present in self.pairs], axis=1)

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Clip scores ``(clips, tags)``: the mean per-frame log-likelihood ratio (the
        challenge code summed it; over equal-length chunks the ranking, and so the EER,
        is the same, and the mean does not grow with a recording's length).

        ``batch_size`` and ``verbose`` are accepted for a Keras-like call and ignored.
        """
        return np.stack([self.frame_scores(clip).mean(axis=0) for clip in x]).astype(np.float32)


def frame_statistics(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 1, zero replaced by 1) over every frame of
    ``(chunks, frames, D)``."""
    flat = frames.reshape(-1, frames.shape[-1])
    std = flat.std(axis=0, ddof=1)
    return flat.mean(axis=0), np.where(std > 0, std, 1.0)


def _log_gaussian(x: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """``log N(x_n; mean, covariance)`` for frames ``(N, D)``, diagonal ``(D,)`` or full
    ``(D, D)`` covariance."""
    d = x.shape[1]
    if covariance.ndim == 1:
        return -0.5 * (d * np.log(2 * np.pi) + np.log(covariance).sum()
                       + (((x - mean) ** 2) / covariance).sum(axis=1))
    chol = np.linalg.cholesky(covariance)
    solved = np.linalg.solve(chol, (x - mean).T)
    return -0.5 * (d * np.log(2 * np.pi) + 2 * np.log(np.diag(chol)).sum()
                   + (solved ** 2).sum(axis=0))
