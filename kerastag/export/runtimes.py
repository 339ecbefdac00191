"""Run a ``kerastag export`` folder in its own runtime, with no kerastag imported.

This file imports only numpy and the runtime of the folder's format (TensorFlow for a
SavedModel, ``onnxruntime`` for ONNX, ``ai-edge-litert`` for LiteRT), so it shows what a
deployment needs (a format added to kerastag brings its own loader; kerastag's
``kerastag.export.load_export`` runs any registered one): copy it beside the folder, or run it as a script::

    python runtimes.py EXPORT_DIR AUDIO.npy OUT.npz

where ``AUDIO.npy`` is float32 ``(batch, samples)`` at the model's sample rate and
``OUT.npz`` receives one array per output. :func:`load` returns a callable for Python
use (``benchmarks/inference.py`` and the tests use it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def load(folder, *, threads: int | None = None):
    """``run(audio (batch, samples) float32) -> {output name: array}`` of an export.

    ``threads``: intra-op threads of onnxruntime and LiteRT (None: their defaults);
    TensorFlow's are process-wide (``tf.config.threading``, before TensorFlow starts).
    """
    folder = Path(folder)
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    artifact = folder / metadata["artifact"]
    return LOADERS[metadata["export_format"]](artifact, metadata["signature"], threads)


def _input_name(signature) -> str:
    return signature["inputs"][0]["name"]


def _saved_model(path: Path, signature, threads):
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    name = _input_name(signature)

    def run(audio):
        outputs = function(**{name: tf.constant(np.asarray(audio, np.float32))})
        return {key: value.numpy() for key, value in outputs.items()}

    return run


def _onnx(path: Path, signature, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    name = session.get_inputs()[0].name

    def run(audio):
        values = session.run(None, {name: np.asarray(audio, np.float32)})
        return dict(zip(names, values))

    return run


def _litert(path: Path, signature, threads):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner()
    name = _input_name(signature)

    def run(audio):
        outputs = runner(**{name: np.asarray(audio, np.float32)})
        return {key: np.array(value) for key, value in outputs.items()}

    return run


#: The built-in formats' loaders ``(artifact, signature, threads) -> run``; kerastag's
#: registry of export formats (``kerastag.names.EXPORT_FORMATS``) points at them.
LOADERS = {"saved_model": _saved_model, "onnx": _onnx, "litert": _litert}


def main(argv=None) -> int:
    folder, audio_path, out_path = (argv or sys.argv[1:])[:3]
    outputs = load(folder)(np.load(audio_path))
    np.savez(out_path, **outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
