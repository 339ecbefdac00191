"""Every feature spec by name, and specs rebuilt from their ``to_dict()``.

Kept apart from the spec modules so that each of them (:mod:`kerastag.features.specs`,
:mod:`kerastag.features.dcase2016`) stays a leaf.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from kerastag.errors import FeatureError
from kerastag.features.dcase2016 import LogMelImd, MfccFrames
from kerastag.features.specs import FeatureSpec, LogMelA, TimeFrequencyB, Wave

#: Feature type (a spec's ``name``) -> spec class; the keys of
#: :data:`kerastag.names.FEATURE_TYPES`.
SPECS: dict[str, type[FeatureSpec]] = {
    LogMelA.name: LogMelA,
    **{kind: TimeFrequencyB for kind in TimeFrequencyB.kinds},
    Wave.name: Wave,
    MfccFrames.name: MfccFrames,
    LogMelImd.name: LogMelImd,
}


def spec_from_dict(d: Mapping[str, Any]) -> FeatureSpec:
    """Build a spec from ``{"name": <feature type>, **params}`` (see ``to_dict``).

    ``{"name": "mfcc", ...}`` gives ``TimeFrequencyB(kind="mfcc", ...)``.

    Raises:
        FeatureError: missing or unknown name, unknown parameter, or a bad value.
    """
    if "name" not in d:
        raise FeatureError(f"feature spec {dict(d)!r}: missing key 'name' "
                           f"(one of {', '.join(SPECS)})")
    name = d["name"]
    if name not in SPECS:
        raise FeatureError(f"unknown feature {name!r}; valid names: {', '.join(SPECS)}")
    cls = SPECS[name]
    valid = [field.name for field in dataclasses.fields(cls)]
    params = {key: value for key, value in d.items() if key != "name"}
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise FeatureError(f"feature {name}: unknown parameter(s) {', '.join(unknown)}; "
                           f"valid: {', '.join(valid)}")
    return cls.from_params(name, params)
