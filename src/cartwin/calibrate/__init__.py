"""Calibration: fitting model and population parameters to published targets, and sensitivity.

Owns the fitting code and writes fitted values, with their targets, fit quality and date,
into data files that the model/trial layers read (model/data). Sits above the trial layer: it
imports trial to simulate the presets it fits, and no layer below imports it.
"""
