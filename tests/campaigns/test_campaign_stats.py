"""campaigns/marketing/stats.py against worked examples computed by hand (the arithmetic
is in the comments), its edge cases, the verdict's wording in each branch, and hypothesis
properties. Pure functions: no database."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.marketing.stats import (
    Comparison,
    Proportion,
    compare,
    format_p,
    proportion,
    verdict,
)

Z = 1.959964
Z2 = Z * Z  # 3.841458881...
TOO_FEW = "的样本太少（各需至少 30 人且转化与未转化各至少 5 人），暂时无法判断差异"


def approx(value, places=4):
    return pytest.approx(value, abs=0.5 * 10**-places)


# --- proportion: rate and Wilson interval -------------------------------------------------


def test_wilson_interval_worked_example():
    # 12/100: p = 0.12, z² = 3.841459, z²/n = 0.03841459, denominator = 1.03841459
    # centre = (0.12 + 3.841459/200) / 1.03841459 = 0.13920729 / 1.03841459 = 0.134058
    # half   = 1.959964 * sqrt(0.12*0.88/100 + 3.841459/40000) / 1.03841459
    #        = 1.959964 * sqrt(0.001056 + 0.0000960365) / 1.03841459
    #        = 1.959964 * 0.0339417 / 1.03841459 = 0.066525 / 1.03841459 = 0.064064
    # interval = (0.134058 - 0.064064, 0.134058 + 0.064064) = (0.0700, 0.1981)
    p = proportion(12, 100)
    assert p == Proportion(successes=12, n=100, rate=0.12, low=p.low, high=p.high)
    assert p.low == approx(0.069994, 5)
    assert p.high == approx(0.198121, 5)
    assert round(p.low, 4) == 0.0700
    assert round(p.high, 4) == 0.1981


def test_wilson_interval_of_a_large_group():
    # 120/1000: centre = (0.12 + 0.00192073) / 1.00384146 = 0.12145 ;
    # half = 1.959964 * sqrt(0.0001056 + 0.00000096036) / 1.00384146 = 0.020155
    # -> (0.1013, 0.1416): narrower than at n = 100, as it should be.
    p = proportion(120, 1000)
    assert p.low == approx(0.1013)
    assert p.high == approx(0.1416)


def test_no_members_means_no_rate():
    p = proportion(0, 0)
    assert p == Proportion(successes=0, n=0, rate=None, low=None, high=None)


def test_zero_successes_interval_is_not_a_point():
    # x = 0: centre = half = (z²/2n)/(1+z²/n), so low = 0 and high = z²/(n+z²)
    # = 3.841459 / 13.841459 = 0.27753 for n = 10.
    p = proportion(0, 10)
    assert p.rate == 0.0
    assert p.low == 0.0
    assert p.high == approx(Z2 / (10 + Z2), 9)
    assert p.high == approx(0.2775)


def test_all_successes_interval_is_not_a_point():
    # x = n: mirror image, low = n/(n+z²) = 10/13.841459 = 0.72247, high = 1 exactly.
    p = proportion(10, 10)
    assert p.rate == 1.0
    assert p.low == approx(0.7225)
    assert p.high == 1.0


def test_single_member():
    # 1/2: centre = 0.5, half = 1.959964*sqrt(0.125 + 0.24009)/1.96073 = 0.40547
    p = proportion(1, 2)
    assert p.low == approx(0.0945)
    assert p.high == approx(0.9055)


@pytest.mark.parametrize(
    ("successes", "n", "z"),
    [(-1, 10, Z), (11, 10, Z), (0, -1, Z), (1, 10, 0.0), (1, 10, -1.96)],
)
def test_impossible_counts_are_refused(successes, n, z):
    with pytest.raises(ValueError):
        proportion(successes, n, z)


def test_a_wider_z_gives_a_wider_interval():
    p95 = proportion(30, 200)
    p99 = proportion(30, 200, z=2.575829)
    assert p99.low < p95.low < p95.rate < p95.high < p99.high


# --- compare: the pooled two-proportion z-test --------------------------------------------


def test_z_test_worked_example_significant():
    # a = 120/1000 = 0.12, b = 90/1000 = 0.09
    # p_pooled = 210/2000 = 0.105
    # se = sqrt(0.105 * 0.895 * (1/1000 + 1/1000)) = sqrt(0.000187950) = 0.0137095
    # z  = (0.12 - 0.09) / 0.0137095 = 2.18827
    # p  = erfc(2.18827 / sqrt 2) = 2 * (1 - Φ(2.18827)) = 0.02865 (two-sided)
    c = compare(proportion(120, 1000), proportion(90, 1000))
    assert c.lift == approx(0.03, 9)
    assert c.relative_lift == approx(0.03 / 0.09, 9)  # 0.3333: a third more buyers
    assert c.z == approx(2.1883)
    assert c.p_value == approx(0.0287)
    assert c.p_value == approx(0.028650, 6)
    assert c.enough is True
    assert c.significant is True


def test_z_test_worked_example_not_significant():
    # a = 62/500 = 0.124, b = 50/500 = 0.100
    # p_pooled = 112/1000 = 0.112
    # se = sqrt(0.112 * 0.888 * (2/500)) = sqrt(0.000397824) = 0.0199455
    # z  = 0.024 / 0.0199455 = 1.20328
    # p  = erfc(1.20328 / sqrt 2) = 0.22887
    c = compare(proportion(62, 500), proportion(50, 500))
    assert c.lift == approx(0.024, 9)
    assert c.relative_lift == approx(0.24, 9)
    assert c.z == approx(1.2033)
    assert c.p_value == approx(0.2289)
    assert c.enough is True
    assert c.significant is False


def test_z_test_very_small_p():
    # a = 200/1000, b = 100/1000: p_pooled = 0.15,
    # se = sqrt(0.15 * 0.85 * 0.002) = sqrt(0.000255) = 0.0159687, z = 0.1 / 0.0159687 = 6.2622,
    # p = erfc(6.2622 / sqrt 2) = 3.79e-10
    c = compare(proportion(200, 1000), proportion(100, 1000))
    assert c.z == approx(6.2622)
    assert c.p_value == pytest.approx(3.7948e-10, rel=1e-3)
    assert c.significant is True


def test_swapping_the_groups_negates_lift_and_keeps_p():
    ab = compare(proportion(120, 1000), proportion(90, 1000))
    ba = compare(proportion(90, 1000), proportion(120, 1000))
    assert ba.lift == -ab.lift
    assert ba.z == -ab.z
    assert ba.p_value == ab.p_value
    # relative lift is not symmetric: -0.03 / 0.12 = -0.25
    assert ba.relative_lift == approx(-0.25, 9)


def test_identical_rates():
    c = compare(proportion(100, 1000), proportion(100, 1000))
    assert c.lift == 0.0
    assert c.relative_lift == 0.0
    assert c.z == 0.0
    assert c.p_value == 1.0
    assert c.enough is True
    assert c.significant is False


def test_an_empty_group_gives_nothing_to_test():
    c = compare(proportion(0, 0), proportion(10, 100))
    assert c == Comparison(
        lift=None, relative_lift=None, z=None, p_value=None, enough=False, significant=False
    )
    c = compare(proportion(10, 100), proportion(0, 0))
    assert c.lift is None
    assert c.relative_lift is None
    assert c.p_value is None
    assert c.enough is False
    both = compare(proportion(0, 0), proportion(0, 0))
    assert both.p_value is None
    assert both.enough is False


def test_nobody_converted_in_either_group():
    # p_pooled = 0 -> se = 0: no z, no p, not enough.
    c = compare(proportion(0, 100), proportion(0, 100))
    assert c.lift == 0.0
    assert c.relative_lift is None  # rate_b = 0
    assert (c.z, c.p_value, c.enough, c.significant) == (None, None, False, False)


def test_everybody_converted_in_both_groups():
    # p_pooled = 1 -> se = 0: no z, no p, not enough.
    c = compare(proportion(40, 40), proportion(50, 50))
    assert c.lift == 0.0
    assert c.relative_lift == 0.0
    assert (c.z, c.p_value, c.enough, c.significant) == (None, None, False, False)


def test_baseline_of_zero_has_no_relative_lift_and_few_expected_buyers():
    # a = 5/100, b = 0/100: p_pooled = 0.025, se = sqrt(0.025*0.975*0.02) = 0.0220794,
    # z = 0.05/0.0220794 = 2.2646, p = 0.0235 -- but the expected buyers per group are
    # 100 * 0.025 = 2.5 < 5, so the test is not trusted.
    c = compare(proportion(5, 100), proportion(0, 100))
    assert c.lift == approx(0.05, 9)
    assert c.relative_lift is None
    assert c.z == approx(2.2646)
    assert c.p_value == approx(0.0235)
    assert c.enough is False
    assert c.significant is False


def test_tiny_groups_are_not_enough_even_with_a_huge_difference():
    # 0/10 vs 9/10: z = -4.045, p = 5.2e-5, yet n < 30.
    c = compare(proportion(0, 10), proportion(9, 10))
    assert c.p_value == pytest.approx(5.2279e-5, rel=1e-3)
    assert c.p_value < 0.05
    assert c.enough is False
    assert c.significant is False


@pytest.mark.parametrize(
    ("a", "b", "enough"),
    [
        # 30 members each is the least; 29 is too few.
        ((10, 30), (10, 30), True),
        ((10, 29), (10, 30), False),
        ((10, 30), (10, 29), False),
        # expected converted = 50 * 10/100 = 5 exactly: enough; 50 * 9/100 = 4.5: not.
        ((5, 50), (5, 50), True),
        ((4, 50), (5, 50), False),
        # expected not converted = 50 * 10/100 = 5 exactly: enough; 4.5: not.
        ((45, 50), (45, 50), True),
        ((46, 50), (45, 50), False),
        # unequal groups: the small one expects 30 * 10/1030 = 0.29 buyers.
        ((10, 1000), (0, 30), False),
        # ... and with more buyers 30 * 180/1030 = 5.2 and 30 * 850/1030 = 24.8: enough.
        ((175, 1000), (5, 30), True),
    ],
)
def test_enough_rule_boundaries(a, b, enough):
    c = compare(proportion(*a), proportion(*b))
    assert c.enough is enough
    if not enough:
        assert c.significant is False


# --- format_p -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (3.79e-10, "< 0.001"),
        (0.000999, "< 0.001"),
        (0.001, "0.001"),
        (0.0042, "0.004"),
        (0.0109, "0.01"),
        (0.02865, "0.03"),
        (0.0449, "0.04"),
        (0.047, "< 0.05"),  # not "0.05" beside "差异显著"
        (0.0499, "< 0.05"),
        (0.05, "0.05"),
        (0.0504, "0.05"),
        (0.22887, "0.23"),
        (1.0, "1.00"),
    ],
)
def test_format_p(p, text):
    assert format_p(p) == text


# --- verdict ------------------------------------------------------------------------------


def _verdict(name_a, a, name_b, b):
    pa, pb = proportion(*a), proportion(*b)
    return verdict(name_a, pa, name_b, pb, compare(pa, pb))


def test_verdict_higher_and_significant():
    # the first worked example: +3.0 points, p = 0.02865 -> "0.03"
    text = _verdict("B 券", (120, 1000), "A 券", (90, 1000))
    assert text == "B 券比A 券转化率高 3.0 个百分点，p = 0.03，差异显著"


def test_verdict_lower_and_significant():
    text = _verdict("A 券", (90, 1000), "B 券", (120, 1000))
    assert text == "A 券比B 券转化率低 3.0 个百分点，p = 0.03，差异显著"


def test_verdict_higher_not_significant():
    # the second worked example: +2.4 points, p = 0.22887 -> "0.23"
    text = _verdict("变体 A", (62, 500), "对照组", (50, 500))
    assert text == "变体 A比对照组转化率高 2.4 个百分点，p = 0.23，差异不显著"


def test_verdict_lower_not_significant():
    text = _verdict("对照组", (50, 500), "变体 A", (62, 500))
    assert text == "对照组比变体 A转化率低 2.4 个百分点，p = 0.23，差异不显著"


def test_verdict_very_small_p():
    # +10.0 points, p = 3.8e-10
    text = _verdict("满减券", (200, 1000), "9 折券", (100, 1000))
    assert text == "满减券比9 折券转化率高 10.0 个百分点，p < 0.001，差异显著"


def test_verdict_points_with_one_decimal():
    # 131/1000 - 100/1000 = 0.031 -> "3.1" (the example);
    # p_pooled = 0.1155, se = sqrt(0.1155*0.8845*0.002) = 0.014294, z = 2.1688, p = 0.0301
    text = _verdict("B", (131, 1000), "A", (100, 1000))
    assert text == "B比A转化率高 3.1 个百分点，p = 0.03，差异显著"


def test_verdict_identical_rates():
    text = _verdict("A", (100, 1000), "B", (100, 1000))
    assert text == "A与B转化率相同，p = 1.00，差异不显著"
    # same rate from different group sizes
    text = _verdict("A", (50, 500), "B", (100, 1000))
    assert text == "A与B转化率相同，p = 1.00，差异不显著"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((0, 10), (9, 10)),  # tiny groups
        ((5, 100), (0, 100)),  # too few expected buyers
        ((0, 100), (0, 100)),  # nobody bought
        ((40, 40), (50, 50)),  # everybody bought
        ((0, 0), (10, 100)),  # an empty group
        ((0, 0), (0, 0)),
    ],
)
def test_verdict_too_few(a, b):
    assert _verdict("B 券", a, "对照组", b) == "B 券与对照组" + TOO_FEW


def test_verdict_too_few_wording():
    text = _verdict("A", (1, 2), "B", (0, 2))
    assert text == ("A与B的样本太少（各需至少 30 人且转化与未转化各至少 5 人），暂时无法判断差异")


# --- properties -------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**7).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(counts)
def test_interval_contains_the_rate_within_0_and_1(xn):
    x, n = xn
    p = proportion(x, n)
    if n == 0:
        assert (p.rate, p.low, p.high) == (None, None, None)
        return
    assert p.rate == x / n
    assert 0.0 <= p.low <= p.rate <= p.high <= 1.0
    assert (p.low == 0.0) == (x == 0)
    assert (p.high == 1.0) == (x == n)


@given(counts, counts)
def test_comparison_is_bounded_and_symmetric(xa, xb):
    a, b = proportion(*xa), proportion(*xb)
    ab, ba = compare(a, b), compare(b, a)
    if ab.p_value is None:
        assert ba.p_value is None
        assert ab.z is None and ab.enough is False and ab.significant is False
    else:
        assert 0.0 <= ab.p_value <= 1.0
        assert ba.p_value == ab.p_value
        assert ba.z == -ab.z
        assert math.isfinite(ab.z)
    if ab.lift is None:
        assert ba.lift is None
    else:
        assert ba.lift == -ab.lift
        assert -1.0 <= ab.lift <= 1.0
    assert ba.enough == ab.enough
    assert ba.significant == ab.significant
    assert ab.significant == (ab.enough and ab.p_value < 0.05)
    # the verdict always says something, and the mirrored one flips 高/低
    va = verdict("A", a, "B", b, ab)
    vb = verdict("B", b, "A", a, ba)
    assert va.startswith("A")
    if ab.enough and ab.lift:
        assert ("高" in va) == ("低" in vb)
