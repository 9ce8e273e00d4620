"""Training: the loop, run directories, checkpoints, reports."""
