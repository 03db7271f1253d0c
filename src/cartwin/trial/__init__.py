"""Trial: protocols from config files, endpoints, reports (virtual clinical trials).

Owns what a trial *is* (a :class:`~cartwin.trial.protocol.Protocol` loaded from TOML/YAML), what it
measures (:mod:`cartwin.trial.endpoints`) and how it is shown (:mod:`cartwin.trial.report`).
May import every layer below (foundation, model, engine, clinic, therapy, journey, population).
"""

from cartwin.trial.endpoints import (
    ENDPOINTS,
    PATIENT_COLUMNS,
    compute_endpoints,
    summarise_replicates,
)
from cartwin.trial.protocol import Protocol, list_protocols, load_protocol, protocol_from_dict
from cartwin.trial.report import write_report

__all__ = [
    "ENDPOINTS",
    "PATIENT_COLUMNS",
    "Protocol",
    "compute_endpoints",
    "list_protocols",
    "load_protocol",
    "protocol_from_dict",
    "summarise_replicates",
    "write_report",
]
