"""Each built-in export format's signature reader: ``(artifact) -> {"inputs": [...],
"outputs": [...]}`` read back from the written artifact, for ``metadata.json``
(:data:`kerastag.names.EXPORT_FORMATS` names them). Each imports its format's runtime
(TensorFlow, ``onnx``, LiteRT), so they live here rather than in :mod:`kerastag.formats`.

An entry is ``{"name": ..., "shape": [...], "dtype": ...}``, ``shape`` holding ``None``
where the size is free (batch, samples, frames).
"""

from __future__ import annotations

from pathlib import Path


def signature_entry(name, shape, dtype) -> dict:
    """One input or output: its name, its shape (``None``: free) and its dtype's name."""
    return {"name": str(name), "shape": [None if d is None or d < 0 else int(d) for d in shape],
            "dtype": str(dtype)}


def saved_model_signature(path: Path) -> dict:
    """The ``serving_default`` signature of a SavedModel folder."""
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    _, inputs = function.structured_input_signature
    outputs = function.structured_outputs
    return {
        "inputs": [signature_entry(k, v.shape.as_list(), v.dtype.name)
                   for k, v in sorted(inputs.items())],
        "outputs": [signature_entry(k, v.shape.as_list(), v.dtype.name)
                    for k, v in sorted(outputs.items())],
    }


def onnx_signature(path: Path) -> dict:
    """The graph inputs and outputs of an ``.onnx`` file."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def entries(values):
        found = []
        for value in values:
            tensor = value.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
            found.append(signature_entry(value.name, shape, dtype))
        return found

    return {"inputs": entries(graph.input), "outputs": entries(graph.output)}


def litert_signature(path: Path) -> dict:
    """The default signature runner's inputs and outputs of a ``.tflite`` file."""
    runner = _litert_interpreter(path).get_signature_runner()
    details = runner.get_input_details(), runner.get_output_details()
    return {key: [signature_entry(name, d["shape_signature"], d["dtype"].__name__)
                  for name, d in sorted(part.items())]
            for key, part in zip(("inputs", "outputs"), details)}


def _litert_interpreter(path: Path):
    """The LiteRT interpreter (``ai-edge-litert``), else TensorFlow's deprecated copy."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))
