#!/usr/bin/env bash
# The quickstart (README.md, docs/quickstart.md): a 4-level PSQ D2NN trained on the digits embedded
# in the package, exported as a fabricable design, then simulated as fabricated with height and
# phase errors. Runs in an empty directory with quaton installed (CI runs it from the built wheel,
# outside the clone); about a minute on one core.
set -euo pipefail
quaton init .
quaton train smoke --set quantization.method=psq --set quantization.levels=4 --run-dir runs/quickstart
quaton export runs/quickstart --out designs/quickstart
quaton simulate designs/quickstart --perturb height_error=0.05 --perturb phase_noise=0.2
