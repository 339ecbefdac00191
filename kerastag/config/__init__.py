"""Experiment configs: YAML files loaded into frozen, validated dataclasses.

:mod:`~kerastag.config.sections` holds the dataclasses (one per config section, one per
feature type), :mod:`~kerastag.config.parse` turns YAML or a run folder's saved config
into them. Every name a section accepts comes from :mod:`kerastag.names`.
"""

from kerastag.config.parse import (config_from_run_data, config_to_dict, features_from_data,
                                   from_dict, load_config, resolved_config)
from kerastag.config.sections import (DatasetConfig, ExcerptFeatures, ExecutionConfig,
                                      ExperimentConfig,
                                      FeaturesConfig, LogMelAFeatures, LogMelImdFeatures,
                                      MfccFramesFeatures, ModelConfig, RowConfig,
                                      StackConfig, TrainingConfig, resolve_data_path)

__all__ = [
    "DatasetConfig", "ExcerptFeatures", "ExecutionConfig", "ExperimentConfig", "FeaturesConfig", "LogMelAFeatures",
    "LogMelImdFeatures", "MfccFramesFeatures",
    "ModelConfig", "RowConfig", "StackConfig", "TrainingConfig", "config_from_run_data",
    "config_to_dict", "features_from_data", "from_dict", "load_config", "resolve_data_path",
    "resolved_config",
]
