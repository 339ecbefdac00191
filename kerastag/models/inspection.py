"""What a built model will run as on a GPU.

Keras' GRU (TensorFlow backend) runs as one fused cuDNN kernel only when its arguments
allow it (``keras.src.backend.tensorflow.rnn.cudnn_ok`` and ``GRU.inner_loop``): tanh
activation, sigmoid recurrent activation, no unrolling, a bias, ``reset_after=True``, no
recurrent dropout and ``use_cudnn`` not False. Otherwise it falls back to a step-by-step
loop, which on a GPU is many times slower. The paper-A CRNN's plain BiGRU qualifies; the
authors' gated BiGRU (linear and sigmoid activations) does not.
"""

from __future__ import annotations

import keras


def cudnn_gru_report(model: keras.Model) -> dict[str, bool]:
    """Each GRU of ``model`` (inside Bidirectional and nested models too) -> cuDNN-eligible.

    Returns:
        ``{layer name: eligible}`` in layer order; empty when the model has no GRU.
    """
    return {gru.name: cudnn_eligible(gru) for gru in _grus(model)}


def cudnn_eligible(gru: keras.layers.GRU) -> bool:
    """Keras' conditions for the cuDNN GRU kernel, less "a GPU is present"."""
    cell = gru.cell
    return (_is(cell.activation, keras.activations.tanh, keras.ops.tanh)
            and _is(cell.recurrent_activation, keras.activations.sigmoid, keras.ops.sigmoid)
            and not gru.unroll and cell.use_bias and cell.reset_after
            and not cell.recurrent_dropout and gru.use_cudnn in ("auto", True))


def _is(function, *candidates) -> bool:
    return any(function is candidate for candidate in candidates)


def _grus(layer):
    if isinstance(layer, keras.layers.GRU):
        yield layer
    elif isinstance(layer, keras.layers.Bidirectional):
        yield from _grus(layer.forward_layer)
        yield from _grus(layer.backward_layer)
    elif isinstance(layer, keras.Model):
        for inner in layer.layers:
            yield from _grus(inner)
