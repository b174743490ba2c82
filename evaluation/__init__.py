"""Evaluation of trained checkpoints: validation bits-per-byte now, benchmark categories later."""
