import math

import numpy as np
import pytest

from cartwin.foundation import Interval, OneOf, ValidationError, check, check_all
from cartwin.foundation.constraints import check_array
from cartwin.foundation.units import CELLS_PER_UG_GDNA, parse_dose


def test_interval_accepts_and_rejects_with_named_field():
    assert check("rate", 0.5, Interval(0, 1)) == 0.5
    with pytest.raises(ValidationError) as err:
        check("rate", 1.5, Interval(0, 1))
    assert err.value.field == "rate"
    assert "[0, 1]" in str(err.value) and "1.5" in str(err.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "0.3", None, True])
def test_interval_rejects_non_numbers_and_non_finite(bad):
    with pytest.raises(ValidationError):
        check("x", bad, Interval(0, 1))


def test_oneof_and_unknown_field():
    assert check("kind", "a", OneOf(("a", "b"))) == "a"
    with pytest.raises(ValidationError, match="kind"):
        check("kind", "c", OneOf(("a", "b")))
    with pytest.raises(ValidationError, match="typo"):
        check_all({"typo": 1}, {"rate": Interval()})


def test_check_array_names_first_bad_index():
    with pytest.raises(ValidationError) as err:
        check_array("weights", [1.0, 2.0, -1.0], Interval(0.0))
    assert err.value.field == "weights[2]"
    np.testing.assert_array_equal(check_array("w", [1, 2], Interval(0.0)), [1.0, 2.0])


def test_parse_dose():
    assert parse_dose("2e6/kg") == (2e6, True)
    assert parse_dose(" 1.5e8 ") == (1.5e8, False)
    for bad in ["abc", "-1e6", "0", "2e6/lb"]:
        with pytest.raises(ValidationError, match="dose"):
            parse_dose(bad)


def test_dna_bridge_value():
    # 1 ug of genomic DNA holds ~1.5e5 diploid genomes at 6.6 pg each.
    assert 1.4e5 < CELLS_PER_UG_GDNA < 1.6e5


def test_integer_bounds_compare_exactly():
    # float(2**63 - 1) is 2**63: the largest documented seed used to be refused.
    seed = Interval(0, 2**63 - 1, integer=True)
    assert seed.accepts(2**63 - 1) and seed.accepts(np.int64(2**63 - 1))
    assert not seed.accepts(2**63) and not seed.accepts(-1)
    assert Interval(0, 10, integer=True).accepts(3.0) and not Interval(0, 10, integer=True).accepts(3.5)
