"""Building data, model and task from a validated config: moved to quaton.builders (below train/
and export/); re-exported here so that ``quaton.train.setup`` keeps working."""

from quaton.builders import (
    DEFAULT_TEMPERATURES,
    PreparedData,
    build_model,
    build_quantizer,
    build_readout,
    build_task,
    encode_batch,
    initialize_from_run,
    prepare_data,
    rbc_parameters,
    set_modulator,
)

__all__ = [
    "DEFAULT_TEMPERATURES",
    "PreparedData",
    "build_model",
    "build_quantizer",
    "build_readout",
    "build_task",
    "encode_batch",
    "initialize_from_run",
    "prepare_data",
    "rbc_parameters",
    "set_modulator",
]
