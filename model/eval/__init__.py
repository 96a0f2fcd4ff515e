"""Evaluation: fidelity report (inversion + edit test) and the CPU bench."""
