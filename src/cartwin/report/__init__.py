"""Reports: matplotlib figures and HTML pages built from result tables.

Owns presentation of results (no simulation). May import foundation and read tables produced
by any layer; the layers never import it back.
"""
