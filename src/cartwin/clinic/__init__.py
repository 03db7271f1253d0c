"""Clinic layer: what the care team sees and does.

Owns bedside observations, grading scales (ASTCT, Lee 2014, Penn, CTCAE v5), response criteria
(ALL, Lugano, IMWG) and management policies. May import foundation, model and engine.
"""
