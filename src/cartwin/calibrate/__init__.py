"""Calibration: fitting model and population parameters to published targets, and sensitivity.

Owns the fitting code and writes fitted values, with their targets, fit quality and date,
into data files that the model/trial layers read. May import every layer below trial.
"""
