"""PQA PDC, MPR, gaps and trend against dispense histories computed by hand; the adherence Insight and feature."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from carepilot.domain.adherence import DrugFill, Stay, adherence_summary
from carepilot.domain.insight import InsightKind
from carepilot.domain.profile import Coding, Demographics, Encounter, Medication, PatientProfile
from carepilot.features.adherence import adherence_by_class, adherence_features, pdc
from carepilot.insights.adherence import AdherenceProvider
from carepilot.insights.service import InsightContext

D0 = date(2025, 1, 1)
END = D0 + timedelta(days=89)  # a 90-day period, both ends inclusive


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def fill(n: int, supply: int, drug: str = "atorvastatin") -> DrugFill:
    return DrugFill(drug, day(n), supply)


def test_on_time_fills_cover_every_day():
    s = adherence_summary("statin", [fill(0, 30), fill(30, 30), fill(60, 30)], D0, END)
    assert (s.days_in_period, s.days_covered, s.pdc, s.mpr) == (90, 90, 1.0, 1.0)
    assert s.gaps == () and s.adherent


def test_an_overlapping_refill_is_shifted_forward_so_days_are_not_counted_twice():
    # day 0 + 30 covers days 0-29; the day-20 fill starts on day 30 and covers 30-59; 60-89 are uncovered.
    s = adherence_summary("statin", [fill(0, 30), fill(20, 30)], D0, END)
    assert s.days_covered == 60
    assert s.pdc == pytest.approx(60 / 90)
    assert s.mpr == pytest.approx(60 / 90)
    assert [(g.start, g.end, g.days) for g in s.gaps] == [(day(60), day(89), 30)]
    assert not s.adherent


def test_the_period_runs_from_the_index_date_to_the_end():
    # First fill on day 45: the period is days 45-89 (45 days), 30 of them covered.
    s = adherence_summary("statin", [fill(45, 30)], D0, END)
    assert s.index_date == day(45) and s.days_in_period == 45
    assert s.pdc == pytest.approx(30 / 45)


def test_a_fill_before_the_period_or_no_fill_gives_no_summary():
    assert adherence_summary("statin", [DrugFill("atorvastatin", D0 - timedelta(days=5), 30)], D0, END) is None
    assert adherence_summary("statin", [], D0, END) is None


def test_a_gap_in_the_middle_is_reported_with_its_dates_and_length():
    s = adherence_summary("statin", [fill(0, 30), fill(60, 30)], D0, END)
    assert s.pdc == pytest.approx(60 / 90)
    assert len(s.gaps) == 1
    gap = s.gaps[0]
    assert (gap.start, gap.end, gap.days) == (day(30), day(59), 30)
    assert s.longest_gap == gap


def test_hospital_days_leave_the_denominator_and_do_not_use_up_supply():
    # 30 days of supply from day 0; in hospital days 10-14. Supply covers 0-9 and 15-34 (30 days); 85 days at
    # risk; uncovered days 35-89 (55 days).
    s = adherence_summary("statin", [fill(0, 30)], D0, END, [Stay(day(10), day(14))])
    assert s.days_in_hospital == 5 and s.days_in_period == 85
    assert s.days_covered == 30
    assert s.pdc == pytest.approx(30 / 85)
    assert [(g.start, g.days) for g in s.gaps] == [(day(35), 55)]


def test_two_drugs_of_a_class_cover_shared_days_once_without_shifting():
    # A switch: atorvastatin days 0-29, simvastatin from day 15 to day 44 -> days 0-44 covered (45 days).
    s = adherence_summary("statin", [fill(0, 30), fill(15, 30, "simvastatin")], D0, END)
    assert s.days_covered == 45
    assert s.drugs == ("atorvastatin", "simvastatin")
    assert s.mpr == pytest.approx(60 / 90)


def test_mpr_is_not_capped_and_shows_stockpiling():
    s = adherence_summary("statin", [fill(0, 90), fill(30, 90)], D0, END)
    assert s.pdc == 1.0
    assert s.mpr == pytest.approx(2.0)


def test_trend_is_pdc_by_90_day_window_and_reads_falling_when_supply_drops():
    end = D0 + timedelta(days=179)
    fills = [fill(0, 90), fill(90, 45)]
    s = adherence_summary("statin", fills, D0, end)
    assert [v for _, v in s.trend] == [pytest.approx(1.0), pytest.approx(0.5)]
    assert s.trend[-1][0] == end
    assert s.trend_word == "falling"


NOW = datetime(2025, 12, 31, 12, tzinfo=UTC)


def dispense(drug: str, days_ago: int, supply: float) -> Medication:
    return Medication(
        f"d-{drug}-{days_ago}",
        drug,
        Coding("r", "x", drug),
        "completed",
        NOW - timedelta(days=days_ago),
        resource_type="MedicationDispense",
        days_supply=supply,
    )


def order(drug: str) -> Medication:
    return Medication(f"m-{drug}", drug, Coding("r", "x", drug), "active", NOW - timedelta(days=400))


def person(medications, encounters=()) -> PatientProfile:
    return PatientProfile(
        Demographics("p1", None, "female"), NOW, medications=tuple(medications), encounters=tuple(encounters)
    )


def test_provider_names_the_low_adherence_class_its_drugs_and_gaps():
    meds = [order("atorvastatin"), order("lisinopril")]
    # statin: fills 360, 270, 90 days ago (90 days each, with a 90-day gap); ACE inhibitor: fully covered.
    meds += [dispense("atorvastatin", d, 90) for d in (360, 270, 90)]
    meds += [dispense("lisinopril", d, 90) for d in (360, 270, 180, 90)]
    found = AdherenceProvider().insights(person(meds), InsightContext())
    assert len(found) == 1
    insight = found[0]
    assert insight.kind == InsightKind.ADHERENCE
    assert "statin" in insight.title and "atorvastatin" in insight.title
    assert insight.value == pytest.approx(270 / 361, abs=1e-3)
    assert "days without supply" in insight.detail and "90 days" in insight.detail


def test_provider_is_silent_for_a_stopped_drug_and_for_order_hooks():
    meds = [dispense("atorvastatin", 360, 30)]  # no active order: stopped, not non-adherent
    assert AdherenceProvider().insights(person(meds), InsightContext()) == []
    meds.append(order("atorvastatin"))
    assert AdherenceProvider().insights(person(meds), InsightContext(ordered_concepts=("warfarin",))) == []


def test_features_are_point_in_time_and_nan_without_dispenses():
    meds = [dispense("atorvastatin", d, 90) for d in (360, 270, 90)]
    p = person(meds)
    assert math.isnan(pdc(person([])))
    later = adherence_features(p)
    assert later["pdc_mean"] == pytest.approx(270 / 361, abs=1e-3)
    assert later["longest_gap_days"] == 90
    # As known 200 days ago, only the first two fills existed and the supply was continuous.
    earlier = adherence_features(p, at=NOW - timedelta(days=200))
    assert earlier["pdc_mean"] == pytest.approx(1.0)


def test_inpatient_encounters_become_stays():
    meds = [dispense("atorvastatin", 100, 30)]
    stay = Encounter("e1", "IMP", None, NOW - timedelta(days=95), NOW - timedelta(days=86))
    (s,) = adherence_by_class(person(meds, [stay]))
    assert s.days_in_hospital == 10
