"""kerastag's networks. Importing this package registers every custom layer.

- :mod:`kerastag.models.crnn`: paper A's CRNN with attention and localization heads.
- :mod:`kerastag.models.dcase2016`: Table 1's baselines (DAE-DNN, CGRNN and ATT-LOC on IMD);
  :mod:`kerastag.models.gmm` (imported on use) the challenge's MFCC + GMM baseline.
- :mod:`kerastag.models.networks`: paper B's level-1 networks (Xception, ResNet-50,
  ResNeXt, SE-ResNeXt, DPN, Wave-ResNeXt) behind one ``build_network`` registry.
"""

from kerastag.models import crnn, dcase2016, deploy, frontends, layers, networks  # noqa: F401

__all__ = ["crnn", "dcase2016", "layers", "networks"]
