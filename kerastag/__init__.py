"""kerastag: audio tagging with Keras 3.

Importing the package registers every custom Keras layer of kerastag, so a saved
``.keras`` model loads with ``keras.saving.load_model`` and no ``custom_objects``.
The ``kerastag`` command line skips that import (it loads TensorFlow, seconds) so that
``kerastag --help`` is instant; its commands import the models when they need them.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

if _os.path.basename(_sys.argv[0] if _sys.argv else "") != "kerastag":
    from kerastag import models  # noqa: E402,F401  (registers the custom layers)
