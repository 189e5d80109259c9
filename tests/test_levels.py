import pytest

from rapo_lite.errors import RapoError
from rapo_lite.levels import DEFAULT_BANDS, Band, band_for, bands_from_lists, length_case


def test_default_bands_are_the_documented_ones():
    assert DEFAULT_BANDS == (Band(2, 4), Band(5, 8), Band(9, None))
    assert bands_from_lists([[2, 4], [5, 8], [9, None]]) == DEFAULT_BANDS


@pytest.mark.parametrize(
    "n, level, case",
    [(1, 1, "too_short"), (2, 1, "adequate"), (4, 1, "adequate"), (5, 1, "too_long"),
     (4, 2, "too_short"), (8, 2, "adequate"), (9, 2, "too_long"),
     (8, 3, "too_short"), (9, 3, "adequate"), (40, 3, "adequate"), (9, 5, "adequate"), (8, 7, "too_short")],
)
def test_length_case(n, level, case):
    assert length_case(n, level) == case


def test_band_target_is_finite_and_inside():
    for band in DEFAULT_BANDS:
        lo, hi = band.target()
        assert band.contains(lo) and band.contains(hi) and lo <= hi


@pytest.mark.parametrize(
    "raw, message",
    [
        ([], "at least one band"),
        ([[2, 4], [4, 8]], "overlaps"),
        ([[2, None], [5, 8]], "only the last band"),
        ([[0, 3]], "min must be an integer >= 1"),
        ([[3, 2]], "max must be null or an integer >= min"),
        ([[2, 4, 6]], "expected [min, max]"),
        ([["a", 4]], "min must be an integer"),
    ],
)
def test_bad_bands_are_named(raw, message):
    with pytest.raises(RapoError, match=message.replace("[", r"\[").replace("]", r"\]")):
        bands_from_lists(raw)


def test_level_below_one_is_an_error():
    with pytest.raises(RapoError, match="risk level"):
        band_for(0)
