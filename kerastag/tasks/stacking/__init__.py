"""Paper B level 2: XGBoost stacking over the level-1 models' out-of-fold predictions
and the clips' MFCC statistics.

- :mod:`~kerastag.tasks.stacking.run`: the ``stacking`` stage on a finished run folder;
- :mod:`~kerastag.tasks.stacking.report`: :func:`run_stacking` — read level 1, fit and
  score level 2, write the tables, the submission, the model and the stack's
  probabilities;
- :mod:`~kerastag.tasks.stacking.mfcc_statistics`: max/min/variance/skewness of each MFCC;
- :mod:`~kerastag.tasks.stacking.meta_features`: the level-2 input matrix and its
  column names;
- :mod:`~kerastag.tasks.stacking.level2`: the XGBoost fit, nested CV and prediction;
- :mod:`~kerastag.tasks.stacking.predict`: scoring audio end to end with a stack folder.

The files are read and written by :mod:`kerastag.formats.level1_csv`,
:mod:`kerastag.formats.submission_csv`, :mod:`kerastag.formats.level2_model` and
:mod:`kerastag.formats.map_table`.
"""
