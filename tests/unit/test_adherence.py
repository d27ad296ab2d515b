from datetime import UTC, datetime, timedelta

import pytest

from carepilot.domain.adherence import Fill, proportion_of_days_covered

START = datetime(2024, 1, 1, tzinfo=UTC)
END = START + timedelta(days=90)


def test_three_on_time_30_day_fills_cover_the_whole_window():
    fills = [Fill(START + timedelta(days=30 * i), 30) for i in range(3)]
    assert proportion_of_days_covered(fills, START, END) == pytest.approx(1.0)


def test_a_gap_lowers_pdc_by_the_uncovered_days():
    fills = [Fill(START, 30), Fill(START + timedelta(days=60), 30)]
    assert proportion_of_days_covered(fills, START, END) == pytest.approx(60 / 90)


def test_an_early_refill_is_shifted_forward_not_double_counted():
    fills = [Fill(START, 30), Fill(START + timedelta(days=20), 30)]
    # 60 days of supply from day 0 -> covered days 0..60 of 90
    assert proportion_of_days_covered(fills, START, END) == pytest.approx(60 / 90)


def test_the_period_starts_at_the_first_fill_and_no_fill_means_no_pdc():
    fills = [Fill(START + timedelta(days=45), 30)]
    assert proportion_of_days_covered(fills, START, END) == pytest.approx(30 / 45)
    assert proportion_of_days_covered([], START, END) is None
