"""Run folders (checkpoints, resume, run configs) and saved models (.kd files)."""
