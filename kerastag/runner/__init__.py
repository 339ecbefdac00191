"""The task-agnostic runner: the ``Task`` protocol (:mod:`~kerastag.runner.task`) and
the unit loop over a run folder (:mod:`~kerastag.runner.run`)."""
