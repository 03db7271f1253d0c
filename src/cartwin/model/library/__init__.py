"""Published models, one module each, reimplemented from their papers' equations and tables.

* :mod:`.kimmel2021` — T-cell competition model of axi-cel kinetics (Kimmel 2021).
* :mod:`.stein2019` — expansion/biexponential-contraction model of tisa-cel (Stein 2019).

Each is a small :class:`~cartwin.model.base.Model` subclass: states, a cited parameter table
and one right-hand side. They double as validation anchors for the composite model.
"""

from cartwin.model.library.kimmel2021 import Kimmel2021
from cartwin.model.library.stein2019 import Stein2019

__all__ = ["Kimmel2021", "Stein2019"]
