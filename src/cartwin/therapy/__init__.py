"""Therapy: one course of CAR-T treatment for a batch of patients, from regimen to tables.

Owns the translation of a clinical regimen (product, dose, lymphodepletion, management policy)
into model parameters and engine events, and the per-patient kinetic summary. May import
foundation, model, engine and clinic. The population and trial layers call it.
"""

from cartwin.therapy.course import CourseResult, Covariates, Regimen, simulate_course

__all__ = ["CourseResult", "Covariates", "Regimen", "simulate_course"]
