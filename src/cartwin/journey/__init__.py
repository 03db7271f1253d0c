"""Journey: vein-to-vein processes (SimPy) and CAR cell products.

Owns what happens between enrolment and infusion (leukapheresis, manufacturing, release testing,
shipping, bridging, lymphodepletion, dropouts while waiting), the capacity of a treatment
network, and the product catalogue. Imports ``cartwin.foundation`` only (its seeded streams
too), never the model or engine: a :class:`Product` carries its in-vivo attributes as plain
numbers that the model layer maps onto its own parameters.

>>> from cartwin.journey import preset_config, simulate_journeys
>>> table = simulate_journeys(preset_config("juliet"), 100, seed=1)
>>> list(table.columns[:3])
['patient_id', 'product', 'product_class']
"""

from cartwin.journey.calibration import (
    Calibration,
    calibrate_preset,
    default_config,
    derive_hazards,
    preset_config,
    preset_names,
)
from cartwin.journey.config import (
    JOURNEY_CONSTRAINTS,
    NETWORK_CONSTRAINTS,
    NOT_INFUSED_REASONS,
    JourneyConfig,
    NetworkConfig,
    load_config,
)
from cartwin.journey.distributions import Duration
from cartwin.journey.network import NetworkResult, simulate_network
from cartwin.journey.process import simulate_journeys
from cartwin.journey.products import PRODUCT_UNITS, PRODUCTS, Product, get_product, products_table
from cartwin.journey.tables import PATIENT_COLUMNS, summarise

__all__ = [
    "JOURNEY_CONSTRAINTS",
    "NETWORK_CONSTRAINTS",
    "NOT_INFUSED_REASONS",
    "PATIENT_COLUMNS",
    "PRODUCTS",
    "PRODUCT_UNITS",
    "Calibration",
    "Duration",
    "JourneyConfig",
    "NetworkConfig",
    "NetworkResult",
    "Product",
    "calibrate_preset",
    "default_config",
    "derive_hazards",
    "get_product",
    "load_config",
    "preset_config",
    "preset_names",
    "products_table",
    "simulate_journeys",
    "simulate_network",
    "summarise",
]
