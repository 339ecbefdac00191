"""Paper B level 1: general-purpose tagging on FSDKaggle2018 (DCASE 2018 Task 2).

- :mod:`~kerastag.tasks.classification.task`: the task (folds + full model per row, mAP@3);
- :mod:`~kerastag.tasks.classification.report`: level-1 files, submissions, mAP@3 tables
  and plots from the units' predictions;
- :mod:`~kerastag.tasks.classification.excerpts`: random excerpts for training, windows
  for scoring whole clips;
- :mod:`~kerastag.tasks.classification.predict`: scoring audio files with a saved model;
- :mod:`~kerastag.tasks.classification.plots`: per-class mAP@3.
"""
