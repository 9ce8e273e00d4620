"""The validated config: ``sections`` (one pydantic model per section, the components' options
among them), ``schema`` (the root :class:`Config`, the rules across sections, physical
plausibility), ``messages`` (one error message for an invalid config) and ``io`` (YAML, ``--set``
overrides). A config is YAML; unknown keys, wrong types and impossible values are rejected before
any work starts, with one :class:`~quaton.errors.ConfigError` naming the dotted key."""

from quaton.config.io import (
    build_config,
    dump_config,
    existing_file,
    is_file,
    load_config,
    packaged_configs,
    parse_override,
    read_config_data,
    resolve_config_path,
    set_dotted,
)
from quaton.config.messages import format_validation_error
from quaton.config.schema import Config
from quaton.config.sections import (
    CalibrateConfig,
    DataConfig,
    DATConfig,
    DetectorConfig,
    DistortionConfig,
    FabricationConfig,
    HardwareConfig,
    InputConfig,
    ModelConfig,
    OpticsConfig,
    PhysicalConfig,
    QuantizationConfig,
    RBCConfig,
    ReadoutConfig,
    RobustConfig,
    ScheduleConfig,
    Section,
    TaskConfig,
    TrainConfig,
)

__all__ = [
    "CalibrateConfig",
    "Config",
    "DATConfig",
    "DataConfig",
    "DetectorConfig",
    "DistortionConfig",
    "FabricationConfig",
    "HardwareConfig",
    "InputConfig",
    "ModelConfig",
    "OpticsConfig",
    "PhysicalConfig",
    "QuantizationConfig",
    "RBCConfig",
    "ReadoutConfig",
    "RobustConfig",
    "ScheduleConfig",
    "Section",
    "TaskConfig",
    "TrainConfig",
    "build_config",
    "dump_config",
    "existing_file",
    "format_validation_error",
    "is_file",
    "load_config",
    "packaged_configs",
    "parse_override",
    "read_config_data",
    "resolve_config_path",
    "set_dotted",
]
