"""Which GRUs Keras can run as cuDNN kernels on a GPU."""

import keras

from kerastag.models.crnn import build_crnn_attloc
from kerastag.models.dcase2016 import build_cgrnn_imd
from kerastag.models.inspection import cudnn_eligible, cudnn_gru_report


def test_the_paper_crnn_gru_is_cudnn_eligible_and_the_gated_variant_is_not():
    plain = cudnn_gru_report(build_crnn_attloc(n_mels=16, n_frames=8, filters=[4], rnn_units=4))
    assert plain == {"forward_bigru_gru": True, "backward_bigru_gru": True}
    gated = cudnn_gru_report(build_crnn_attloc(n_mels=16, n_frames=8, filters=[4], rnn_units=4,
                                               gated_rnn=True))
    assert len(gated) == 4 and not any(gated.values())


def test_each_keras_condition_is_checked():
    assert cudnn_eligible(keras.layers.GRU(4))
    assert not cudnn_eligible(keras.layers.GRU(4, unroll=True))
    assert not cudnn_eligible(keras.layers.GRU(4, reset_after=False))
    assert not cudnn_eligible(keras.layers.GRU(4, recurrent_dropout=0.1))
    assert not cudnn_eligible(keras.layers.GRU(4, use_bias=False))
    assert not cudnn_eligible(keras.layers.GRU(4, activation="relu"))
    assert not cudnn_eligible(keras.layers.GRU(4, use_cudnn=False))


def test_the_table_1_baselines_grus_are_eligible():
    model = build_cgrnn_imd((40, 40 + 257), 7, filters=4, rnn_units=4, rnn_layers=1,
                            dense_units=8)
    report = cudnn_gru_report(model)
    assert report and all(report.values())
