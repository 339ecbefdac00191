"""Property-based: no bytes in any dataset text file make a reader misbehave.

For every text file of every layout, arbitrary bytes and mutations of the valid file
(truncated, a byte flipped or inserted, a line duplicated or removed, a BOM prepended):

- collecting mode (``Problems(strict=False)``, as ``data check``) never raises, and every
  message is one line that starts with a path inside the dataset folder;
- strict mode raises only :class:`DatasetError`, whose message is the first collected one,
  and reads exactly the collected clips when nothing was collected.

The worked examples with exact messages are in ``test_bad_files.py``.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerastag.datasets import read_dataset
from kerastag.datasets.base import Problems
from kerastag.datasets.chime_home import CROSSVAL_LIST, DEV_LIST, EVAL_LIST
from kerastag.datasets.fsdkaggle2018 import (
    KAGGLE_SUBMISSION, KAGGLE_TRAIN, ZENODO_TEST, ZENODO_TRAIN)
from kerastag.errors import DatasetError

BOM = b"\xef\xbb\xbf"
LAYOUTS = {
    "bad_chime": ("chime-home", [CROSSVAL_LIST, DEV_LIST, EVAL_LIST, "annotation"]),
    "bad_fsd": ("fsdkaggle2018", [str(ZENODO_TRAIN), str(ZENODO_TEST)]),
    "bad_fsd_kaggle": ("fsdkaggle2018", [KAGGLE_TRAIN, KAGGLE_SUBMISSION,
                                         "test_post_competition.csv"]),
    "bad_csv": ("csv", ["labels.csv"]),
}
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
# Text that looks like CSV: separators, quotes, line breaks, BOMs, digits, path parts.
CSV_ALPHABET = list(',,,"\n\n\r \t0123456789abcfm.wav/\\_-\ufeff\x00\u00e9\u00b2\u2028')
ANY_BYTES = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=CSV_ALPHABET, max_size=300).map(lambda text: text.encode("utf-8")),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


def text_files(root, relatives):
    """The dataset's text files; "annotation" is the first crossval chunk's CSV."""
    paths = []
    for relative in relatives:
        if relative == "annotation":
            first = (root / CROSSVAL_LIST).read_text().splitlines()[0].split(",")[1]
            relative = f"chunks/{first}.csv"
        paths.append(root / relative)
    return paths


def _lines(data):
    """The lines of ``data`` with their line breaks; one empty line for empty data."""
    return data.splitlines(keepends=True) or [b""]


MUTATIONS = {
    "truncate": lambda draw, data: data[:draw(st.integers(0, len(data)))],
    "flip": lambda draw, data: _at(draw, data, 1,
                                   lambda b: bytes([b[0] ^ draw(st.integers(1, 255))])),
    "insert": lambda draw, data: _at(draw, data, 0,
                                     lambda b: draw(st.binary(min_size=1, max_size=3))),
    "duplicate line": lambda draw, data: _line_op(draw, data, lambda line: line + line),
    "remove line": lambda draw, data: _line_op(draw, data, lambda line: b""),
    "bom": lambda draw, data: BOM + data,
}


def _at(draw, data, width, replace):
    """``data`` with the ``width`` bytes at a drawn offset replaced by ``replace(them)``."""
    if len(data) < width:
        return data
    i = draw(st.integers(0, len(data) - width))
    return data[:i] + replace(data[i:i + width]) + data[i + width:]


def _line_op(draw, data, change):
    """``data`` with a drawn line replaced by ``change(line)``."""
    lines = _lines(data)
    i = draw(st.integers(0, len(lines) - 1))
    return b"".join(lines[:i] + [change(lines[i])] + lines[i + 1:])


@st.composite
def mutated(draw, original):
    """``original`` after one to three drawn mutations."""
    data = original
    for _ in range(draw(st.integers(1, 3))):
        data = MUTATIONS[draw(st.sampled_from(sorted(MUTATIONS)))](draw, data)
    return data


def assert_well_behaved(root, layout):
    """The two properties of the module docstring, for the folder as it is now."""
    collected = Problems(strict=False)
    dataset = read_dataset(root, layout, problems=collected)  # must not raise at all
    for message in collected.messages:
        assert message.startswith(str(root)), message
        assert len(message.splitlines()) == 1 and "\r" not in message, message
    try:
        strict = read_dataset(root, layout, problems=Problems(strict=True))
    except DatasetError as exc:
        assert collected.messages and str(exc) == collected.messages[0]
    else:
        assert not collected.messages
        assert [(c, c.extra) for c in strict.clips] == [(c, c.extra) for c in dataset.clips]


@pytest.mark.parametrize("fixture", sorted(LAYOUTS))
@FUZZ
@given(data=st.data())
def test_arbitrary_bytes_in_any_text_file(request, swap, fixture, data):
    root = request.getfixturevalue(fixture)
    layout, relatives = LAYOUTS[fixture]
    path = data.draw(st.sampled_from(text_files(root, relatives)), label="file")
    with swap(path, data.draw(ANY_BYTES, label="bytes")):
        assert_well_behaved(root, layout)


@pytest.mark.parametrize("fixture", sorted(LAYOUTS))
@FUZZ
@given(data=st.data())
def test_mutations_of_a_valid_file(request, swap, fixture, data):
    root = request.getfixturevalue(fixture)
    layout, relatives = LAYOUTS[fixture]
    paths = [path for path in text_files(root, relatives) if path.is_file()]
    path = data.draw(st.sampled_from(paths), label="file")
    with swap(path, data.draw(mutated(path.read_bytes()), label="bytes")):
        assert_well_behaved(root, layout)
