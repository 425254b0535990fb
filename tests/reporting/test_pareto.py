"""The noise-aware Pareto rule on hand-made points."""

from __future__ import annotations

import pytest

from edge_vit.reporting.pareto import (
    DOMINATED,
    FRONT,
    TIED,
    Point,
    dominates,
    front_steps,
    order_front,
    pareto_front,
)


def P(key, lat, acc, half=0.1, acc_half=None):
    return Point(key=key, latency=lat, accuracy=acc, latency_low=lat - half,
                 latency_high=lat + half,
                 accuracy_low=None if acc_half is None else acc - acc_half,
                 accuracy_high=None if acc_half is None else acc + acc_half)


def test_clearly_faster_and_as_accurate_dominates():
    fast, slow = P("fast", 5.0, 80.0), P("slow", 10.0, 79.0)
    marks = pareto_front([fast, slow])
    assert marks["slow"].status == DOMINATED
    assert marks["slow"].dominated_by == "fast"
    assert marks["fast"].status == FRONT
    assert dominates(fast, slow) and not dominates(slow, fast)


def test_equal_accuracy_and_clearly_faster_dominates():
    marks = pareto_front([P("a", 5.0, 80.0), P("b", 6.0, 80.0)])
    assert marks["b"].status == DOMINATED


def test_overlapping_latency_intervals_never_dominate():
    # b is less accurate and its p50 is higher, but the CIs overlap: no winner declared
    a, b = P("a", 10.0, 80.0, half=1.0), P("b", 10.5, 79.0, half=1.0)
    marks = pareto_front([a, b])
    assert marks["a"].status == TIED and marks["b"].status == TIED
    assert marks["a"].tied_with == ["b"] and marks["b"].tied_with == ["a"]


def test_touching_intervals_overlap():
    # upper bound of the faster == lower bound of the slower: not strictly below -> kept
    a = Point("a", 9.0, 80.0, latency_low=8.0, latency_high=10.0)
    b = Point("b", 11.0, 70.0, latency_low=10.0, latency_high=12.0)
    assert pareto_front([a, b])["b"].status == TIED


def test_slower_but_more_accurate_stays_on_front():
    marks = pareto_front([P("fast", 5.0, 70.0), P("slow", 10.0, 80.0)])
    assert marks["fast"].status == FRONT and marks["slow"].status == FRONT


def test_accuracy_ci_overlap_marks_tied_but_keeps_both():
    # clearly separated in latency, accuracies within each other's CI
    marks = pareto_front([P("fast", 5.0, 70.0, acc_half=3.0), P("slow", 10.0, 72.0,
                                                                 acc_half=3.0)])
    assert {m.status for m in marks.values()} == {TIED}


def test_missing_ci_counts_as_the_point_itself():
    a = Point("a", 5.0, 80.0)  # no CIs
    b = Point("b", 5.01, 80.0)
    assert pareto_front([a, b])["b"].status == DOMINATED


def test_dominated_by_names_the_fastest_dominator():
    pts = [P("x", 3.0, 90.0), P("y", 5.0, 91.0), P("z", 10.0, 85.0)]
    marks = pareto_front(pts)
    assert marks["z"].status == DOMINATED and marks["z"].dominated_by == "x"
    assert marks["x"].status == FRONT and marks["y"].status == FRONT


def test_front_ordering_and_steps():
    pts = [P("c", 12.0, 82.0), P("a", 4.0, 70.0), P("b", 8.0, 78.0), P("d", 9.0, 75.0)]
    marks = pareto_front(pts)
    assert marks["d"].status == DOMINATED and marks["d"].dominated_by == "b"
    front = [p for p in pts if marks[p.key].status != DOMINATED]
    assert [p.key for p in order_front(front)] == ["a", "b", "c"]
    assert front_steps(front) == [(4.0, 70.0), (8.0, 70.0), (8.0, 78.0), (12.0, 78.0),
                                  (12.0, 82.0)]


def test_steps_keep_running_max_for_tied_less_accurate_member():
    # b is on the front only through noise (overlaps a) and is less accurate: the step
    # line does not dip for it, and extends to the slowest member
    a, b = P("a", 5.0, 80.0, half=1.0), P("b", 5.5, 70.0, half=1.0)
    assert front_steps([a, b]) == [(5.0, 80.0), (5.5, 80.0)]


def test_identical_points_are_tied_not_dominated():
    marks = pareto_front([P("a", 5.0, 80.0), P("b", 5.0, 80.0)])
    assert marks["a"].status == TIED and marks["b"].status == TIED


def test_keys_must_be_unique():
    with pytest.raises(ValueError):
        pareto_front([P("a", 1.0, 1.0), P("a", 2.0, 2.0)])


def test_empty():
    assert pareto_front([]) == {}
    assert front_steps([]) == []
