"""One package per task, each registered in :data:`kerastag.names.TASKS`:

- :mod:`~kerastag.tasks.tagging`: paper A, multi-label tagging of CHiME-Home, per-tag EER;
- :mod:`~kerastag.tasks.classification`: paper B level 1, FSDKaggle2018, mAP@3;
- :mod:`~kerastag.tasks.stacking`: paper B level 2, XGBoost over level-1 predictions.
"""
