"""Sweep scripts (one per experiment of the study) and the machinery they share."""
