"""The statistics of a campaign report: a conversion rate with its 95% confidence interval,
the difference between two groups (a variant and the holdout, or two variants) with a
two-sided p-value, and a plain-language verdict in Chinese. Pure functions over counts,
standard library only (no database, no numpy/scipy).

Definitions (x successes out of n; here a success is a member who bought in the window):

- Rate: p = x / n; unknown (None) when n = 0.

- Wilson score interval (`proportion`), with z = 1.959964 for 95%:

      centre    = (p + z²/2n) / (1 + z²/n)
      half      = z · sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
      low, high = centre - half, centre + half

  Unlike the textbook p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and does not shrink to
  a point at 0% or 100% (0/10 gives 0 to 27.8%, not 0 to 0). The bounds are clamped to
  [0, 1] and made to contain p against floating-point rounding; low is exactly 0 when
  x = 0 and high exactly 1 when x = n.

- Two-proportion z-test with pooled variance (`compare`), groups a and b:

      p_pooled = (x_a + x_b) / (n_a + n_b)
      se       = sqrt(p_pooled (1 - p_pooled) (1/n_a + 1/n_b))
      z        = (p_a - p_b) / se
      p-value  = erfc(|z| / sqrt(2))              (two-sided, = 2·(1 - Φ(|z|)))

  z and the p-value are None when either group is empty or p_pooled is 0 or 1 (nobody or
  everybody converted: se = 0, nothing to test). lift = p_a - p_b (a fraction: 0.031 is
  3.1 percentage points); relative_lift = lift / p_b, None when p_b is 0 or unknown.

- "Enough" (the normal approximation behind the z-test holds): n_a >= 30 and n_b >= 30,
  and in each group the expected converted and not-converted counts under the pooled
  rate are at least 5: n·p_pooled >= 5 and n·(1 - p_pooled) >= 5 for n = n_a and n = n_b
  (compared in integers, so exactly 5 counts). Otherwise the report says the sample is
  too small to tell; `significant` is `enough and p-value < 0.05`.
"""

import math
from dataclasses import dataclass

Z_95 = 1.959964  # the two-sided 95% normal quantile
ALPHA = 0.05  # significance level of `Comparison.significant`
MIN_GROUP = 30  # members per group for `Comparison.enough`
MIN_EXPECTED = 5  # expected converted and not-converted members per group


@dataclass(frozen=True)
class Proportion:
    successes: int
    n: int
    rate: float | None  # successes / n, None when n == 0
    low: float | None  # 95% Wilson score interval, None when n == 0
    high: float | None


def proportion(successes: int, n: int, z: float = Z_95) -> Proportion:
    """`successes` out of `n` with its Wilson score interval (see the module docstring)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not z > 0:
        raise ValueError(f"z must be positive, got {z}")
    if n == 0:
        return Proportion(successes=0, n=0, rate=None, low=None, high=None)
    rate = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (rate + z2 / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else min(max(centre - half, 0.0), rate)
    high = 1.0 if successes == n else max(min(centre + half, 1.0), rate)
    return Proportion(successes=successes, n=n, rate=rate, low=low, high=high)


@dataclass(frozen=True)
class Comparison:
    lift: float | None  # rate_a - rate_b, a fraction (0.031 = 3.1 percentage points)
    relative_lift: float | None  # lift / rate_b, None when rate_b is 0 or unknown
    z: float | None
    p_value: float | None  # two-sided, two-proportion z-test with pooled variance
    enough: bool  # the sample is big enough to tell (see the module docstring)
    significant: bool  # enough and p_value < 0.05


def _enough(a: Proportion, b: Proportion) -> bool:
    """n >= 30 per group and expected counts n·p_pooled, n·(1-p_pooled) >= 5 per group,
    in integers: n·x_total >= 5·n_total and n·(n_total - x_total) >= 5·n_total."""
    if a.n < MIN_GROUP or b.n < MIN_GROUP:
        return False
    total = a.n + b.n
    converted = a.successes + b.successes
    not_converted = total - converted
    return all(
        n * converted >= MIN_EXPECTED * total and n * not_converted >= MIN_EXPECTED * total
        for n in (a.n, b.n)
    )


def compare(a: Proportion, b: Proportion) -> Comparison:
    """a against b: the lift of a over b and the pooled two-proportion z-test."""
    lift = None
    relative_lift = None
    if a.rate is not None and b.rate is not None:
        lift = a.rate - b.rate
        if b.rate != 0:
            relative_lift = lift / b.rate
    z = None
    p_value = None
    total = a.n + b.n
    converted = a.successes + b.successes
    if a.n > 0 and b.n > 0 and 0 < converted < total:
        pooled = converted / total
        se = math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
        if se > 0:
            z = (a.successes / a.n - b.successes / b.n) / se
            p_value = min(max(math.erfc(abs(z) / math.sqrt(2)), 0.0), 1.0)
    enough = p_value is not None and _enough(a, b)
    significant = enough and p_value is not None and p_value < ALPHA
    return Comparison(
        lift=lift,
        relative_lift=relative_lift,
        z=z,
        p_value=p_value,
        enough=enough,
        significant=significant,
    )


def format_p(p: float) -> str:
    """A p-value for people: "< 0.001" below 0.001, three decimals below 0.01 ("0.004"),
    else two ("0.01", "0.23"); "< 0.05" when two decimals would round a significant p up
    to "0.05" (0.045 <= p < 0.05), so the text never contradicts the verdict."""
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"{p:.3f}"
    text = f"{p:.2f}"
    if p < ALPHA and float(text) >= ALPHA:
        return "< 0.05"
    return text


def _p_clause(p: float) -> str:
    """ "p = 0.23", or "p < 0.001" (not "p = < 0.001")."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def verdict(name_a: str, a: Proportion, name_b: str, b: Proportion, c: Comparison) -> str:
    """One sentence in Chinese for the report, e.g.
    "B 券比 A 券转化率高 3.1 个百分点，p = 0.01，差异显著"."""
    if not c.enough or c.p_value is None or a.rate is None or b.rate is None:
        return (
            f"{name_a}与{name_b}的样本太少（各需至少 30 人且转化与未转化各至少 5 人），"
            "暂时无法判断差异"
        )
    p = _p_clause(c.p_value)
    outcome = "差异显著" if c.significant else "差异不显著"
    lift = a.rate - b.rate
    if lift == 0:
        return f"{name_a}与{name_b}转化率相同，{p}，{outcome}"
    direction = "高" if lift > 0 else "低"
    points = f"{abs(lift) * 100:.1f}"
    return f"{name_a}比{name_b}转化率{direction} {points} 个百分点，{p}，{outcome}"
