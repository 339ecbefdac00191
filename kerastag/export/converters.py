"""The built-in export formats' converters: ``(deployed, artifact) -> None``, each
Keras' own ``model.export`` (ONNX through ``tf2onnx``, LiteRT through TensorFlow's
converter) with the deployed model's one input, ``audio`` ``(batch, samples)`` float32.
:data:`kerastag.names.EXPORT_FORMATS` names them.
"""

from __future__ import annotations

import warnings
from pathlib import Path


def saved_model(deployed, artifact: Path) -> None:
    """A TensorFlow SavedModel folder."""
    _keras_export(deployed, artifact, "tf_saved_model")


def onnx(deployed, artifact: Path) -> None:
    """An ONNX file (``tf2onnx``)."""
    _keras_export(deployed, artifact, "onnx")


def litert(deployed, artifact: Path) -> None:
    """A LiteRT flatbuffer (``.tflite``)."""
    _keras_export(deployed, artifact, "litert")


def _keras_export(deployed, artifact: Path, keras_format: str) -> None:
    import keras

    signature = [keras.InputSpec(shape=(None, None), dtype="float32", name="audio")]
    with warnings.catch_warnings():  # tf2onnx's numpy 2 FutureWarnings, nothing to act on
        warnings.simplefilter("ignore", FutureWarning)
        deployed.export(str(artifact), format=keras_format, verbose=False,
                        input_signature=signature)
