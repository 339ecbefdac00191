"""kerastag: audio tagging with Keras 3.

Importing the package registers every custom Keras layer of kerastag, so a saved
``.keras`` model loads with ``keras.saving.load_model`` and no ``custom_objects``.
The ``kerastag`` command line and multiprocessing workers (feature extraction) skip that
import, which loads TensorFlow (seconds): ``kerastag --help`` stays instant and feature
workers start fast. Whatever loads a model imports :mod:`kerastag.models` itself.

Before any of that, kerastag asks TensorFlow for its oneDNN CPU kernels
(``TF_ENABLE_ONEDNN_OPTS=1``) unless the environment already says otherwise. TensorFlow
turns them on by itself only on CPUs with AVX-512 VNNI/AMX-class features; elsewhere (AMD,
older Intel, ARM) its own kernels train the paper CRNN at half the speed and have no
gradient for paper B's grouped convolutions (``benchmarks/README.md``, "Every CPU"). The
variable is read once, when TensorFlow loads, and is inherited by every process kerastag
starts (feature workers, Ray workers). A user's own ``TF_ENABLE_ONEDNN_OPTS=0`` is kept;
``GroupedConv2D`` then trains through per-group convolutions.
"""

import multiprocessing as _multiprocessing
import os as _os
import sys as _sys

__version__ = "0.2.0"

_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read once, when TensorFlow loads
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

_is_cli = _os.path.basename(_sys.argv[0] if _sys.argv else "") == "kerastag"
# parent_process() is still None while a spawn/forkserver child unpickles its first task
# or re-runs the parent's imports; _inheriting is True during exactly that phase.
_is_worker = (_multiprocessing.parent_process() is not None
              or getattr(_multiprocessing.current_process(), "_inheriting", False))
if not (_is_cli or _is_worker):
    from kerastag import models  # noqa: E402,F401  (registers the custom layers)
