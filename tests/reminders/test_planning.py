"""Reminder planning: offsets, quiet hours (every branch), late bookings, collisions, DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converge.reminders.planning import (
    LATE_GRACE,
    SKIP_ALREADY_STARTED,
    SKIP_NO_ALLOWED_TIME,
    SKIP_TOO_LATE,
    PlannedReminder,
    QuietHours,
    adjust_for_quiet_hours,
    in_quiet_hours,
    plan_reminders,
)

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
MADRID = ZoneInfo("Europe/Madrid")
QUIET = QuietHours()
H = timedelta(hours=1)
STANDARD = {"48h": 48 * H, "24h": 24 * H}


def ny(y, m, d, hh, mm=0, zone=NY) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def plan(start, *, now, offsets=STANDARD, tz="America/New_York", quiet=QUIET):
    return plan_reminders(appointment_start=start, offsets=offsets, patient_tz=tz, quiet=quiet, now=now)


def local(reminder: PlannedReminder, zone=NY) -> str | None:
    return reminder.due_at.astimezone(zone).strftime("%m-%d %H:%M") if reminder.due_at else None


# --- in_quiet_hours ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hh", "mm", "quiet"),
    [(20, 59, False), (21, 0, True), (23, 30, True), (0, 0, True), (7, 59, True), (8, 0, False)],
)
def test_quiet_hours_boundaries(hh, mm, quiet):
    assert in_quiet_hours(ny(2026, 5, 5, hh, mm), tz="America/New_York", quiet=QUIET) is quiet


def test_quiet_hours_are_local_to_the_patient():
    moment = ny(2026, 5, 5, 22)  # 22:00 New York = 19:00 Los Angeles
    assert in_quiet_hours(moment, tz="America/New_York", quiet=QUIET)
    assert not in_quiet_hours(moment, tz="America/Los_Angeles", quiet=QUIET)


def test_non_wrapping_and_empty_quiet_windows():
    siesta = QuietHours(time(14), time(16))
    assert in_quiet_hours(ny(2026, 5, 5, 15), tz="America/New_York", quiet=siesta)
    assert not in_quiet_hours(ny(2026, 5, 5, 16), tz="America/New_York", quiet=siesta)
    assert not in_quiet_hours(ny(2026, 5, 5, 3), tz="America/New_York", quiet=siesta)
    never = QuietHours(time(9), time(9))
    assert not in_quiet_hours(ny(2026, 5, 5, 9), tz="America/New_York", quiet=never)


# --- adjust_for_quiet_hours: every branch --------------------------------------------------


def adjust(due, *, deadline, now, tz="America/New_York", quiet=QUIET):
    return adjust_for_quiet_hours(due, deadline=deadline, tz=tz, quiet=quiet, now=now)


NOW = ny(2026, 5, 1, 12)
FAR = ny(2026, 6, 1, 12)


def test_allowed_due_time_is_kept_and_returned_in_utc():
    due = ny(2026, 5, 5, 10, 30)
    result = adjust(due, deadline=FAR, now=NOW)
    assert result == due
    assert result.tzinfo is UTC


def test_late_evening_moves_back_to_the_last_allowed_minute():
    assert adjust(ny(2026, 5, 5, 23), deadline=FAR, now=NOW) == ny(2026, 5, 5, 20, 59)


def test_right_after_quiet_start_moves_back_one_minute():
    assert adjust(ny(2026, 5, 5, 21), deadline=FAR, now=NOW) == ny(2026, 5, 5, 20, 59)


def test_small_hours_nearer_the_evening_move_back():
    # 02:00: 5h01 after 20:59, 6h before 08:00.
    assert adjust(ny(2026, 5, 6, 2), deadline=FAR, now=NOW) == ny(2026, 5, 5, 20, 59)


def test_early_morning_moves_forward_to_eight():
    assert adjust(ny(2026, 5, 6, 6, 30), deadline=FAR, now=NOW) == ny(2026, 5, 6, 8)


def test_exact_tie_goes_to_the_earlier_moment():
    due = datetime(2026, 5, 6, 2, 29, 30, tzinfo=NY)  # 5h30m30s from both candidates
    assert adjust(due, deadline=FAR, now=NOW) == ny(2026, 5, 5, 20, 59)


def test_morning_after_the_deadline_falls_back_to_the_evening_before():
    due = ny(2026, 5, 6, 7)
    assert adjust(due, deadline=ny(2026, 5, 6, 7, 30), now=NOW) == ny(2026, 5, 5, 20, 59)


def test_morning_exactly_at_the_deadline_is_allowed():
    due = ny(2026, 5, 6, 7)
    assert adjust(due, deadline=ny(2026, 5, 6, 8), now=NOW) == ny(2026, 5, 6, 8)


def test_evening_before_already_past_goes_to_the_morning():
    due = ny(2026, 5, 5, 23)
    assert adjust(due, deadline=FAR, now=ny(2026, 5, 5, 22)) == ny(2026, 5, 6, 8)


def test_now_within_the_last_allowed_minute_sends_now():
    now = datetime(2026, 5, 5, 20, 59, 30, tzinfo=NY)
    assert adjust(ny(2026, 5, 5, 23), deadline=FAR, now=now) == now


def test_no_allowed_time_returns_none():
    now = ny(2026, 5, 5, 22)
    assert adjust(ny(2026, 5, 6, 6), deadline=ny(2026, 5, 6, 7), now=now) is None


def test_due_after_deadline_returns_none():
    assert adjust(ny(2026, 5, 6, 12), deadline=ny(2026, 5, 6, 11), now=NOW) is None


def test_due_in_the_past_counts_as_now():
    now = ny(2026, 5, 5, 10)
    assert adjust(ny(2026, 5, 5, 9, 30), deadline=FAR, now=now) == now
    now = ny(2026, 5, 5, 22)
    assert adjust(ny(2026, 5, 5, 21, 30), deadline=FAR, now=now) == ny(2026, 5, 6, 8)


def test_custom_non_wrapping_quiet_window():
    lunch = QuietHours(time(12), time(13))
    assert adjust(ny(2026, 5, 5, 12, 10), deadline=FAR, now=NOW, quiet=lunch) == ny(2026, 5, 5, 11, 59)
    assert adjust(ny(2026, 5, 5, 12, 50), deadline=FAR, now=NOW, quiet=lunch) == ny(2026, 5, 5, 13)


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError):
        adjust(datetime(2026, 5, 5, 10), deadline=FAR, now=NOW)


@pytest.mark.parametrize(
    ("due_utc", "expected_utc", "why"),
    [
        # spring forward night in New York: 01:30 EST is quiet; 20:59 EST the evening before
        (datetime(2026, 3, 8, 6, 30), datetime(2026, 3, 8, 1, 59), "back to 20:59 EST"),
        # 06:00 EDT on the change day: forward to 08:00 EDT = 12:00 UTC, not 13:00
        (datetime(2026, 3, 8, 10, 0), datetime(2026, 3, 8, 12, 0), "forward to 08:00 EDT"),
        # fall back: 06:00 EST on 2026-11-01 -> 08:00 EST = 13:00 UTC
        (datetime(2026, 11, 1, 11, 0), datetime(2026, 11, 1, 13, 0), "forward to 08:00 EST"),
        # fall back night 01:30 EDT (first occurrence): back to 20:59 EDT
        (datetime(2026, 11, 1, 5, 30), datetime(2026, 11, 1, 0, 59), "back to 20:59 EDT"),
    ],
)
def test_quiet_hours_across_new_york_dst(due_utc, expected_utc, why):
    due = due_utc.replace(tzinfo=UTC)
    result = adjust(due, deadline=datetime(2026, 12, 1, tzinfo=UTC), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert result == expected_utc.replace(tzinfo=UTC), why
    assert not in_quiet_hours(result, tz="America/New_York", quiet=QUIET)


def test_quiet_hours_across_madrid_dst():
    # 2026-03-29 02:00 CET -> 03:00 CEST. 06:30 CEST is quiet -> 08:00 CEST = 06:00 UTC.
    due = datetime(2026, 3, 29, 6, 30, tzinfo=MADRID)
    result = adjust(
        due,
        deadline=datetime(2026, 12, 1, tzinfo=UTC),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        tz="Europe/Madrid",
    )
    assert result == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert result.astimezone(MADRID).time() == time(8)


# --- plan_reminders ------------------------------------------------------------------------


def test_plain_48h_and_24h_in_order():
    start = ny(2026, 5, 7, 10, 30)
    result = plan(start, now=ny(2026, 5, 1, 9))
    assert [r.kind for r in result] == ["48h", "24h"]
    assert [local(r) for r in result] == ["05-05 10:30", "05-06 10:30"]
    assert all(r.skipped_reason == "" and r.due_at.tzinfo is UTC for r in result)


def test_result_order_is_by_offset_not_mapping_order():
    start = ny(2026, 5, 7, 10, 30)
    result = plan(start, now=ny(2026, 5, 1, 9), offsets={"2h": 2 * H, "48h": 48 * H, "24h": 24 * H})
    assert [r.kind for r in result] == ["48h", "24h", "2h"]


def test_booked_30h_before_skips_48h_and_plans_24h():
    start = ny(2026, 5, 7, 14)
    result = plan(start, now=start - 30 * H)
    assert result[0] == PlannedReminder("48h", None, SKIP_TOO_LATE)
    assert result[0].skipped_reason == "booked too late"
    assert local(result[1]) == "05-06 14:00"


def test_due_just_passed_within_grace_is_sent_now():
    start = ny(2026, 5, 7, 14)
    now = start - 24 * H + 30 * timedelta(minutes=1)
    result = plan(start, now=now)
    assert result[1].due_at == now


def test_due_passed_beyond_grace_is_skipped():
    start = ny(2026, 5, 7, 14)
    now = start - 24 * H + LATE_GRACE + timedelta(minutes=1)
    result = plan(start, now=now)
    assert [r.skipped_reason for r in result] == [SKIP_TOO_LATE, SKIP_TOO_LATE]


def test_due_within_grace_during_quiet_hours_waits_for_morning():
    start = ny(2026, 5, 7, 21, 30)  # evening appointment
    now = ny(2026, 5, 6, 22)  # 24h reminder was due 21:30, we are in quiet hours
    result = plan(start, now=now)
    assert local(result[1]) == "05-07 08:00"


def test_appointment_already_started():
    start = ny(2026, 5, 7, 14)
    result = plan(start, now=start)
    assert all(r.due_at is None and r.skipped_reason == SKIP_ALREADY_STARTED for r in result)


def test_quiet_due_times_move_to_the_nearest_allowed_moment():
    start = ny(2026, 5, 7, 7, 0)  # 48h/24h reminders due at 07:00 -> 08:00 same morning
    result = plan(start, now=ny(2026, 5, 1, 9))
    assert [local(r) for r in result] == ["05-05 08:00", "05-06 08:00"]
    start = ny(2026, 5, 7, 22, 30)  # due at 22:30 -> 20:59 same evening
    result = plan(start, now=ny(2026, 5, 1, 9))
    assert [local(r) for r in result] == ["05-05 20:59", "05-06 20:59"]


def test_short_reminder_for_an_early_visit_goes_the_evening_before():
    start = ny(2026, 5, 7, 8, 30)  # 2h due 06:30; 08:00 is within the 1 h margin
    result = plan(start, now=ny(2026, 5, 1, 9), offsets={"24h": 24 * H, "2h": 2 * H})
    assert [local(r) for r in result] == ["05-06 08:30", "05-06 20:59"]


def test_short_reminder_uses_the_morning_when_it_is_before_the_margin():
    start = ny(2026, 5, 7, 9, 30)  # 2h due 07:30 -> 08:00, 1.5 h before the visit
    result = plan(start, now=ny(2026, 5, 1, 9), offsets={"2h": 2 * H})
    assert local(result[0]) == "05-07 08:00"


def test_no_allowed_time_is_skipped_with_a_reason():
    start = ny(2026, 5, 7, 7, 30)
    result = plan(start, now=ny(2026, 5, 6, 22), offsets={"2h": 2 * H})
    assert result == [PlannedReminder("2h", None, SKIP_NO_ALLOWED_TIME)]


def test_collapsing_reminders_skip_the_earlier_kind():
    start = ny(2026, 5, 7, 8, 30)
    result = plan(start, now=ny(2026, 5, 1, 9), offsets={"2h": 2 * H, "1h": H})
    assert result[0].kind == "2h" and result[0].due_at is None
    assert result[0].skipped_reason == "too close to the 1h reminder"
    assert local(result[1]) == "05-06 20:59"


def test_coinciding_after_moving_forward_skip_the_earlier_kind():
    start = ny(2026, 5, 7, 18)
    result = plan(start, now=ny(2026, 5, 1, 9), offsets={"12h": 12 * H, "10h": 10 * H})
    assert result[0].due_at is None and "10h" in result[0].skipped_reason
    assert local(result[1]) == "05-07 08:00"


def test_equal_offsets_never_fire_together():
    start = ny(2026, 5, 7, 14)
    result = plan(start, now=ny(2026, 5, 1, 9), offsets={"a": 24 * H, "b": 24 * H})
    assert sum(r.due_at is not None for r in result) == 1


def test_reminders_closer_than_an_hour_by_design_are_kept():
    start = ny(2026, 5, 7, 14)
    offsets = {"1h": H, "30m": timedelta(minutes=30)}
    result = plan(start, now=ny(2026, 5, 1, 9), offsets=offsets)
    assert [local(r) for r in result] == ["05-07 13:00", "05-07 13:30"]


def test_patients_in_two_time_zones_get_different_times():
    start = datetime(2026, 5, 7, 13, 0, tzinfo=UTC)  # 09:00 New York, 06:00 Los Angeles
    east = plan(start, now=ny(2026, 5, 1, 9), tz="America/New_York")
    west = plan(start, now=ny(2026, 5, 1, 9), tz="America/Los_Angeles")
    assert [local(r) for r in east] == ["05-05 09:00", "05-06 09:00"]
    assert [local(r, LA) for r in west] == ["05-05 08:00", "05-06 08:00"]


def test_madrid_patient_for_a_new_york_visit():
    start = ny(2026, 5, 7, 16)  # 22:00 in Madrid
    result = plan(start, now=ny(2026, 5, 1, 9), tz="Europe/Madrid")
    assert [local(r, MADRID) for r in result] == ["05-05 20:59", "05-06 20:59"]


def test_48h_reminder_across_spring_forward_is_48_real_hours():
    start = ny(2026, 3, 9, 10)  # Monday after the change
    result = plan(start, now=ny(2026, 3, 1, 9))
    assert start - result[0].due_at == 48 * H
    assert local(result[0]) == "03-07 09:00"  # one hour earlier on the wall clock
    assert local(result[1]) == "03-08 10:00"


def test_48h_reminder_across_fall_back():
    start = ny(2026, 11, 2, 9)
    result = plan(start, now=ny(2026, 10, 20, 9))
    assert local(result[0]) == "10-31 10:00"
    assert local(result[1]) == "11-01 09:00"


@pytest.mark.parametrize("bad", [timedelta(0), -H])
def test_non_positive_offsets_are_rejected(bad):
    with pytest.raises(ValueError):
        plan(ny(2026, 5, 7, 14), now=ny(2026, 5, 1, 9), offsets={"x": bad})


def test_naive_and_unknown_zone_are_rejected():
    with pytest.raises(ValueError):
        plan(datetime(2026, 5, 7, 14), now=ny(2026, 5, 1, 9))
    with pytest.raises(ZoneInfoNotFoundError):
        plan(ny(2026, 5, 7, 14), now=ny(2026, 5, 1, 9), tz="Mars/Olympus")


def test_empty_offsets():
    assert plan(ny(2026, 5, 7, 14), now=ny(2026, 5, 1, 9), offsets={}) == []


# --- properties ----------------------------------------------------------------------------

ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Madrid", "Australia/Sydney", "UTC"]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
offset_sets = st.dictionaries(
    st.sampled_from(["7d", "72h", "48h", "24h", "12h", "3h", "2h", "1h", "30m"]),
    st.integers(min_value=10, max_value=7 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    max_size=5,
)
quiets = st.builds(
    QuietHours,
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
)


@settings(max_examples=400, deadline=None)
@given(
    start=instants,
    lead=st.integers(min_value=-120, max_value=10 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    offsets=offset_sets,
    tz=st.sampled_from(ZONES),
    quiet=quiets,
)
def test_property_planned_reminders_are_before_start_outside_quiet_and_ordered(start, lead, offsets, tz, quiet):
    now = start - lead
    result = plan(start, now=now, offsets=offsets, tz=tz, quiet=quiet)
    assert sorted(r.kind for r in result) == sorted(offsets)
    previous = None
    for r in result:
        if r.due_at is None:
            assert r.skipped_reason
            continue
        assert r.skipped_reason == ""
        assert r.due_at.tzinfo is UTC
        assert now <= r.due_at < start
        assert not in_quiet_hours(r.due_at, tz=tz, quiet=quiet)
        if previous is not None:
            assert previous < r.due_at
        previous = r.due_at


@settings(max_examples=300, deadline=None)
@given(
    due=instants,
    window=st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    back=st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    tz=st.sampled_from(ZONES),
    quiet=quiets,
)
def test_property_adjusted_time_is_allowed_and_inside_the_window(due, window, back, tz, quiet):
    now = due - back
    deadline = due + window
    result = adjust_for_quiet_hours(due, deadline=deadline, tz=tz, quiet=quiet, now=now)
    if result is not None:
        assert now <= result <= deadline
        assert not in_quiet_hours(result, tz=tz, quiet=quiet)
        if not in_quiet_hours(due, tz=tz, quiet=quiet):
            assert result == due
    elif due <= deadline:
        # Nothing allowed was found, so at least the window's ends must be quiet.
        assert in_quiet_hours(now, tz=tz, quiet=quiet)
        assert in_quiet_hours(deadline, tz=tz, quiet=quiet)
