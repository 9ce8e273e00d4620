"""Physical systems and what quaton knows of their errors: the protocol a real or simulated
optical network implements and its loader (``protocol``), quaton's simulated twins of a D2NN and
an MZI mesh (``d2nn_twin``, ``mzi_twin``), the D2NN error formulas (``d2nn_errors``), the
parametric (calibrated) twins and their calibration (``calibrate``, ``calibrate_mzi``) and the
error draws of robust training (``robust``). Below ``train/``: nothing here trains a network."""
