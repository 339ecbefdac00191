"""``execution:``: which engine trains a run's units, and each engine's own section.

::

    execution:
      engine: ray              # a name of kerastag.names.ENGINES (default: local)
      threads_per_unit: 2      # TensorFlow intra-op threads of the process training a unit
      ray: {address: auto, cpus_per_unit: 2, gpus_per_unit: 0.25, max_retries: 2}

Each engine declares the dataclass of its section (:class:`kerastag.names.EngineEntry`
``settings``), which validates it when the config is loaded; every engine's section may
be present, the one ``engine`` names is used (so ``--engine local`` runs a config written
for Ray). ``execution:`` is never part of what a run *is*: a run started on one engine
resumes on the other.

Before kerastag 0.3 Ray's keys sat in ``execution:`` itself; they are read into
``execution.ray`` (:data:`MOVED_TO_ENGINE`), so old configs and run folders still load.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, Optional

from kerastag import names
from kerastag.checks import check_int, check_number
from kerastag.errors import ConfigError

#: Keys of ``execution:`` before kerastag 0.3 -> the engine section they belong to now.
MOVED_TO_ENGINE = {"address": "ray", "cpus_per_unit": "ray", "gpus_per_unit": "ray",
                   "max_retries": "ray"}


@dataclasses.dataclass(frozen=True)
class LocalSettings:
    """``execution.local``: the units train one after another in this process (no keys)."""

    def default_threads(self) -> int | None:
        """TensorFlow's default thread count."""
        return None


@dataclasses.dataclass(frozen=True)
class RaySettings:
    """``execution.ray``: each unfinished unit as a Ray task.

    ``address``: the Ray cluster to join (``auto`` = the one ``ray start`` made on this
    machine, or ``HOST:PORT``); None starts a private Ray on this machine.
    ``cpus_per_unit`` / ``gpus_per_unit``: the resources a unit declares to Ray (fractions
    of a GPU let several units share one). ``max_retries``: how often Ray restarts a unit
    whose worker died.
    """

    address: Optional[str] = None
    cpus_per_unit: float = 1.0
    gpus_per_unit: float = 0.0
    max_retries: int = 2

    def __post_init__(self):
        check_number("execution.ray.cpus_per_unit", self.cpus_per_unit, above=0, error=ConfigError)
        check_number("execution.ray.gpus_per_unit", self.gpus_per_unit, minimum=0,
                     error=ConfigError)
        if self.gpus_per_unit > 1 and self.gpus_per_unit != int(self.gpus_per_unit):
            raise ConfigError(f"execution.ray.gpus_per_unit: above 1 it must be a whole number "
                              f"of GPUs, got {self.gpus_per_unit}")
        check_int("execution.ray.max_retries", self.max_retries, minimum=0, error=ConfigError)
        if self.address is not None and not self.address.strip():
            raise ConfigError("execution.ray.address: expected 'auto' or HOST:PORT, got an "
                              "empty string")

    def default_threads(self) -> int:
        """One thread per CPU a unit declares."""
        return max(1, math.ceil(self.cpus_per_unit))


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
    """Where and how the units of a run train (never part of what a run *is*).

    ``engine``: a name of :data:`kerastag.names.ENGINES` (``local``: one after another in
    this process; ``ray``: as Ray tasks). ``threads_per_unit``: TensorFlow's intra-op
    threads in the process that trains a unit (None: the engine's default, under Ray
    ``ceil(cpus_per_unit)``). ``engines``: each engine section the config gives, as
    ``(engine name, its settings dataclass)`` pairs, written in YAML as
    ``execution.<engine>``. ``reuse_models``: units of one architecture share one
    compiled model per process, each with its own initial state copied in
    (:mod:`kerastag.compiled_models`; the results are the same either way; false builds
    and traces every unit's model afresh, for comparison or debugging).
    """

    engine: str = "local"
    threads_per_unit: Optional[int] = None
    reuse_models: bool = True
    engines: tuple = ()

    def __post_init__(self):
        if self.engine not in names.ENGINES:
            raise ConfigError(names.unknown_name("execution.engine", self.engine, names.ENGINES))
        if self.threads_per_unit is not None:
            check_int("execution.threads_per_unit", self.threads_per_unit, minimum=1,
                      error=ConfigError)
        if not isinstance(self.reuse_models, bool):
            raise ConfigError(f"execution.reuse_models: expected true or false, got "
                              f"{self.reuse_models!r}")

    def settings(self, engine: str | None = None) -> Any:
        """The section of ``engine`` (default: the one that runs), its defaults if absent."""
        engine = engine or self.engine
        given = dict(self.engines).get(engine)
        return settings_class(engine)() if given is None else given

    def unit_threads(self) -> int | None:
        """TensorFlow intra-op threads for one unit (None: TensorFlow's default)."""
        if self.threads_per_unit is not None:
            return self.threads_per_unit
        return getattr(self.settings(), "default_threads", lambda: None)()

    def to_data(self) -> dict:
        """The section as YAML writes it (each engine's section under its name)."""
        data = {"engine": self.engine, "threads_per_unit": self.threads_per_unit,
                "reuse_models": self.reuse_models}
        for name, settings in self.engines:
            data[name] = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        return data


def settings_class(engine: str) -> type:
    """The dataclass of engine ``engine``'s section."""
    return names.resolve(names.ENGINES[engine].settings)


def execution_from_data(data: Any, where: str, convert) -> ExecutionConfig:
    """``execution:`` as YAML gives it (older keys moved into their engine's section);
    ``convert(cls, mapping, where)`` builds and checks a dataclass
    (:func:`kerastag.config.parse.from_dict`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    data = upgraded_execution(data)
    common = ("engine", "threads_per_unit", "reuse_models")
    for key in data:
        if key not in common and key not in names.ENGINES:
            raise ConfigError(_unknown_key(f"{where}.{key}", key, [*common, *names.ENGINES]))
    engines = tuple((key, convert(settings_class(key), {} if value is None else value,
                                  f"{where}.{key}"))
                    for key, value in data.items() if key in names.ENGINES)
    common_keys = convert(ExecutionConfig, {key: data[key] for key in common if key in data}, where)
    return dataclasses.replace(common_keys, engines=engines)


def _unknown_key(where: str, key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(valid)}"
    return f"{where}: unknown key{hint} (an engine's name is its section)"


def upgraded_execution(data: dict) -> dict:
    """Keys an older kerastag kept in ``execution:`` moved into their engine's section."""
    moved = {key: value for key, value in data.items() if key in MOVED_TO_ENGINE}
    if not moved:
        return data
    upgraded = {key: value for key, value in data.items() if key not in moved}
    for key, value in moved.items():
        section = upgraded.setdefault(MOVED_TO_ENGINE[key], {})
        if isinstance(section, dict):
            upgraded[MOVED_TO_ENGINE[key]] = {key: value, **section}
    return upgraded
