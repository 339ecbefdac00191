"""Paper A: domestic audio tagging on CHiME-Home (DCASE 2016 Task 4).

- :mod:`~kerastag.tasks.tagging.task`: the task (units, training, scoring, tables);
- :mod:`~kerastag.tasks.tagging.training`: the CRNN fitted on one fold;
- :mod:`~kerastag.tasks.tagging.predict`: tagging audio files with a saved model;
- :mod:`~kerastag.tasks.tagging.plots`: EER against Table 1, and one clip's curves.
"""
