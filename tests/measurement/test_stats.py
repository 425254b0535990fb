"""The round statistics on synthetic series with known answers (no timing involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_vit.measurement import stats


def _runner():
    from devices.runner import stats as runner_stats

    return runner_stats


@pytest.mark.parametrize("df,expected", [(1, 12.706204736), (4, 2.776445105), (9, 2.262157163),
                                         (29, 2.045229642), (1000, 1.962339081)])
def test_t_quantile_matches_tables(df, expected):
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-7)
    assert stats.t_quantile(0.025, df) == pytest.approx(-expected, abs=1e-7)


def test_expansion_widens_small_samples_most():
    f = [stats.expansion(r) for r in (2, 5, 10, 30)]
    assert f == sorted(f, reverse=True) and f[-1] > 1.0
    assert f[1] == pytest.approx(2.776445105 / 1.959963985 * math.sqrt(5 / 4), rel=1e-6)
    assert math.isnan(stats.expansion(1))


def test_pooled_percentiles_weigh_rounds_equally():
    same = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert stats.pooled_percentiles(same, (50,)) == [3.5]  # numpy on the pooled values
    # a slow round holds fewer samples in the same time: it still counts as one round
    fast, slow = [1.0] * 1000, [2.0] * 10
    (p50,) = stats.pooled_percentiles([fast, slow], (50,))
    assert 1.0 < p50 < 2.0  # pooled by count it would be 1.0


def test_constant_rounds_have_a_point_interval():
    s = stats.summarize_rounds([[2.0] * 50] * 5)
    assert s.percentiles[50.0] == 2.0 and s.intervals[50.0] == (2.0, 2.0)
    assert s.half_width() == 0.0 and s.rounds == 5


def test_one_round_gives_no_interval():
    s = stats.summarize_rounds([[1.0, 1.1, 0.9] * 20])
    assert s.intervals == {} and s.half_width() is None


def _session(rng, rounds=8, n=120, sigma_round=0.04, sigma_value=0.01, true=1.0):
    """A random-effects model: each round (process, load, moment) has its own offset."""
    return [true * (1 + sigma_round * rng.standard_normal())
            * (1 + sigma_value * rng.standard_normal(n)) for _ in range(rounds)]


def test_interval_covers_the_true_median_about_95_percent():
    rng = np.random.default_rng(7)
    runner = _runner()
    new_hits = single_hits = 0
    trials = 150
    for i in range(trials):
        rounds = _session(rng)
        s = stats.summarize_rounds(rounds, resamples=400, seed=i)
        lo, hi = s.intervals[50.0]
        new_hits += lo <= 1.0 <= hi
        ((slo, shi),) = runner.bootstrap_ci(sorted(rounds[0]), (50,), resamples=200, seed=i)
        single_hits += slo <= 1.0 <= shi
    assert 0.88 <= new_hits / trials <= 0.995
    assert single_hits / trials < 0.4  # one block's interval knows nothing of the others


def test_drifting_series_single_block_wrong_rounds_right():
    """The machine drifts 10 % over a session (it warms up, a neighbour comes and goes): the
    interval of one block excludes where the next session lands; the round interval does
    not."""
    rng = np.random.default_rng(3)

    def session():
        order = rng.permutation(10)  # the drift is sampled at shuffled moments
        return [(1.0 + 0.01 * k) * (1 + 0.004 * rng.standard_normal(150)) for k in order]

    first, second = session(), session()
    runner = _runner()
    ((slo, shi),) = runner.bootstrap_ci(sorted(first[0]), (50,), resamples=300, seed=0)
    again = stats.summarize_rounds(second).percentiles[50.0]
    assert not slo <= again <= shi
    lo, hi = stats.summarize_rounds(first).intervals[50.0]
    assert lo <= again <= hi
    assert (hi - lo) / 2 / again < 0.05  # and it is still a useful interval


def test_paired_ratio_cancels_what_slows_the_whole_machine():
    rng = np.random.default_rng(11)
    machine = 1 + 0.2 * rng.standard_normal(12)  # the whole machine's speed per round
    a = {k: 11.0 * m * (1 + 0.003 * rng.standard_normal()) for k, m in enumerate(machine)}
    b = {k: 10.0 * m * (1 + 0.003 * rng.standard_normal()) for k, m in enumerate(machine)}
    pr = stats.paired_ratio(a, b)
    assert pr.rounds == 12 and pr.ratio == pytest.approx(1.1, rel=0.005)
    assert pr.resolved and pr.direction == 1 and 1.09 < pr.low < pr.high < 1.11
    inv = pr.inverted()
    assert inv.ratio == pytest.approx(1 / pr.ratio) and inv.direction == -1
    # the unpaired intervals of the same rounds overlap: without pairing it is a tie
    ia = stats.geometric_interval(list(a.values()))[1]
    ib = stats.geometric_interval(list(b.values()))[1]
    assert ia[0] < ib[1]


def test_paired_ratio_of_equals_is_a_tie_and_needs_shared_rounds():
    rng = np.random.default_rng(5)
    a = {k: 1 + 0.01 * rng.standard_normal() for k in range(8)}
    b = {k: 1 + 0.01 * rng.standard_normal() for k in range(8)}
    pr = stats.paired_ratio(a, b)
    assert not pr.resolved and pr.direction == 0 and pr.low < 1 < pr.high
    assert stats.paired_ratio({1: 1.0}, {2: 1.0}) is None
    one = stats.paired_ratio({1: 2.0}, {1: 1.0})
    assert one.ratio == 2.0 and one.low is None and not one.resolved


def test_summary_only_rounds_use_their_figures():
    per_round = [{50.0: v, 90.0: v * 1.1, 99.0: v * 1.3} for v in (2.0, 2.1, 1.9, 2.0, 2.05)]
    s = stats.summarize_round_figures(per_round)
    lo, hi = s.intervals[50.0]
    assert lo < s.percentiles[50.0] < hi and s.percentiles[50.0] == pytest.approx(2.009, abs=1e-3)
    assert s.method == stats.SUMMARY_METHOD


def test_trimmed_interval_is_the_t_interval_without_trimming_and_resists_outliers():
    values = [0.1, 0.12, 0.09, 0.11]  # fewer than 5: nothing to trim
    mean, (lo, hi) = stats.trimmed_interval(values)
    m, (tlo, thi) = stats.geometric_interval([math.exp(v) for v in values])
    assert mean == pytest.approx(math.log(m)) and (lo, hi) == pytest.approx(
        (math.log(tlo), math.log(thi)))
    steady = [0.20 + 0.001 * (i % 5) for i in range(20)]
    spells = steady[:17] + [0.9, 1.1, 0.8]  # three rounds caught in a slow spell
    trimmed, (lo, hi) = stats.trimmed_interval(spells)
    assert trimmed == pytest.approx(0.202, abs=0.001) and lo < trimmed < hi < 0.21
    plain, _ = stats.trimmed_interval(spells, trim=0.0)
    assert plain > 0.3  # the untrimmed mean is dragged by the three rounds


def test_paired_ratio_is_not_moved_by_a_few_slow_spells():
    rng = np.random.default_rng(2)
    a = {k: 10.0 * (1 + 0.01 * rng.standard_normal()) for k in range(20)}
    b = {k: 8.0 * (1 + 0.01 * rng.standard_normal()) for k in range(20)}
    for k in (3, 11, 17):  # only b was caught in a 1.6x slow spell in these rounds
        b[k] *= 1.6
    pr = stats.paired_ratio(a, b)
    assert pr.ratio == pytest.approx(1.25, rel=0.01) and pr.resolved and pr.low > 1.2


def test_widen_adds_the_between_session_spread_in_quadrature():
    lo, hi = stats.widen(10.0, (9.9, 10.1), 0.01)
    assert math.log(10.0 / lo) == pytest.approx(math.hypot(math.log(10 / 9.9), 0.0196), rel=1e-3)
    assert math.log(hi / 10.0) == pytest.approx(math.hypot(math.log(10.1 / 10), 0.0196), rel=1e-3)
    assert stats.widen(10.0, (9.9, 10.1), 0.0) == (9.9, 10.1)
    lo, hi = stats.widen(10.0, (10.0, 10.0), 0.01)  # no spread in the rounds: the term alone
    assert (lo, hi) == (pytest.approx(10.0 * math.exp(-0.0196), rel=1e-3),
                        pytest.approx(10.0 * math.exp(0.0196), rel=1e-3))
