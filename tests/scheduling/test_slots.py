"""Open-slot computation: hours, lunch breaks, exceptions, buffers, notice, range, DST, speed."""

from __future__ import annotations

import random
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.scheduling.slots import (
    Busy,
    DateException,
    WorkingHours,
    local_instant,
    open_slots,
)

NY = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")
MIN = timedelta(minutes=1)
PAST = datetime(2020, 1, 1, tzinfo=UTC)

WEEKDAYS_LUNCH = [WorkingHours(d, time(9), time(12)) for d in range(5)] + [
    WorkingHours(d, time(13), time(17)) for d in range(5)
]
EVERY_DAY_9_17 = [WorkingHours(d, time(9), time(17)) for d in range(7)]


def slots(
    *,
    tz: str = "America/New_York",
    hours=WEEKDAYS_LUNCH,
    exceptions=(),
    busy=(),
    duration=timedelta(minutes=30),
    buffer=timedelta(0),
    start: datetime,
    end: datetime,
    now: datetime = PAST,
    min_notice=timedelta(0),
    step=timedelta(minutes=15),
) -> list[tuple[datetime, datetime]]:
    return open_slots(
        tz=tz,
        hours=hours,
        exceptions=list(exceptions),
        busy=list(busy),
        duration=duration,
        buffer=buffer,
        range_start=start,
        range_end=end,
        now=now,
        min_notice=min_notice,
        step=step,
    )


def local_starts(result, zone=NY) -> list[str]:
    return [s.astimezone(zone).strftime("%m-%d %H:%M") for s, _ in result]


def day_range(day: date, zone=NY) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


MONDAY = date(2026, 3, 2)


# --- working hours -------------------------------------------------------------------------


def test_lunch_break_splits_the_day_and_nothing_crosses_it():
    start, end = day_range(MONDAY)
    result = local_starts(slots(start=start, end=end))
    assert result[0] == "03-02 09:00"
    assert "03-02 11:30" in result
    assert "03-02 11:45" not in result  # would run into lunch
    assert not [s for s in result if "12:" in s]
    assert "03-02 13:00" in result
    assert result[-1] == "03-02 16:30"
    assert len(result) == 11 + 15


def test_slots_are_aware_utc_and_exactly_duration_long():
    start, end = day_range(MONDAY)
    for s, e in slots(start=start, end=end, duration=timedelta(minutes=45)):
        assert s.tzinfo is UTC and e.tzinfo is UTC
        assert e - s == timedelta(minutes=45)


def test_alignment_follows_each_block_start():
    hours = [WorkingHours(0, time(9, 10), time(10, 10)), WorkingHours(0, time(13, 5), time(14))]
    start, end = day_range(MONDAY)
    result = local_starts(slots(hours=hours, start=start, end=end))
    assert result == [
        "03-02 09:10",
        "03-02 09:25",
        "03-02 09:40",
        "03-02 13:05",
        "03-02 13:20",
    ]


def test_touching_blocks_form_one_stretch():
    hours = [WorkingHours(0, time(9), time(10)), WorkingHours(0, time(10), time(11))]
    start, end = day_range(MONDAY)
    result = local_starts(slots(hours=hours, start=start, end=end, duration=timedelta(hours=1)))
    assert "03-02 09:30" in result


def test_overlapping_blocks_are_merged_without_duplicates():
    hours = [WorkingHours(0, time(9), time(11)), WorkingHours(0, time(10), time(12))]
    start, end = day_range(MONDAY)
    result = slots(hours=hours, start=start, end=end, duration=timedelta(hours=1))
    assert local_starts(result)[0] == "03-02 09:00"
    assert local_starts(result)[-1] == "03-02 11:00"
    assert len(result) == len(set(result))


def test_closed_weekday_has_no_slots():
    start, end = day_range(date(2026, 3, 7))  # Saturday
    assert slots(start=start, end=end) == []


def test_step_and_duration_longer_than_block():
    start, end = day_range(MONDAY)
    assert slots(start=start, end=end, duration=timedelta(hours=5)) == []
    result = slots(start=start, end=end, duration=timedelta(hours=1), step=timedelta(hours=1))
    assert local_starts(result) == [
        "03-02 09:00",
        "03-02 10:00",
        "03-02 11:00",
        "03-02 13:00",
        "03-02 14:00",
        "03-02 15:00",
        "03-02 16:00",
    ]


# --- busy and buffers ----------------------------------------------------------------------


def at(hour: int, minute: int = 0, day: date = MONDAY, zone=NY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def test_busy_interval_blocks_overlapping_slots():
    start, end = day_range(MONDAY)
    busy = [Busy(at(10), at(10, 40))]
    result = local_starts(slots(start=start, end=end, busy=busy))
    assert "03-02 09:30" in result  # ends 10:00, touching is fine
    assert "03-02 09:45" not in result
    assert "03-02 10:30" not in result
    assert "03-02 10:45" in result  # first step at or after 10:40


def test_buffer_after_the_appointment_must_be_free():
    start, end = day_range(MONDAY)
    busy = [Busy(at(10), at(10, 30))]
    with_buffer = local_starts(slots(start=start, end=end, busy=busy, buffer=timedelta(minutes=10)))
    without = local_starts(slots(start=start, end=end, busy=busy))
    assert "03-02 09:30" in without
    assert "03-02 09:30" not in with_buffer  # 09:30-10:00 + 10 min runs into 10:00
    assert "03-02 09:15" in with_buffer  # 09:15-09:45 + buffer to 09:55
    assert "03-02 10:30" in with_buffer  # busy already includes its own buffer


def test_buffer_may_run_past_closing_and_into_lunch():
    start, end = day_range(MONDAY)
    result = local_starts(slots(start=start, end=end, buffer=timedelta(minutes=20)))
    assert "03-02 16:30" in result
    assert "03-02 11:30" in result


def test_busy_given_in_another_zone_and_unsorted_overlapping():
    start, end = day_range(MONDAY)
    busy = [
        Busy(at(14).astimezone(UTC), at(15).astimezone(UTC)),
        Busy(at(9, 30).astimezone(MADRID), at(10).astimezone(MADRID)),
        Busy(at(14, 30), at(15, 30)),
        Busy(at(9), at(9, 45)),
    ]
    result = local_starts(slots(start=start, end=end, busy=busy))
    assert result[0] == "03-02 10:00"
    assert not [s for s in result if s.startswith("03-02 14") or s == "03-02 15:00"]
    assert "03-02 13:30" in result
    assert "03-02 15:30" in result


def test_zero_length_busy_is_ignored_and_inverted_busy_rejected():
    start, end = day_range(MONDAY)
    assert slots(start=start, end=end, busy=[Busy(at(10), at(10))]) == slots(start=start, end=end)
    with pytest.raises(ValueError):
        slots(start=start, end=end, busy=[Busy(at(11), at(10))])


# --- exceptions ----------------------------------------------------------------------------


def test_day_off():
    start, end = day_range(MONDAY)
    off = DateException(MONDAY, None, None, available=False)
    assert slots(start=start, end=end, exceptions=[off]) == []


def test_special_hours_replace_the_weekday_hours():
    start, end = day_range(MONDAY)
    special = DateException(MONDAY, time(10), time(11), available=True)
    result = local_starts(slots(start=start, end=end, exceptions=[special]))
    assert result == ["03-02 10:00", "03-02 10:15", "03-02 10:30"]


def test_extra_hours_on_a_closed_day():
    saturday = date(2026, 3, 7)
    start, end = day_range(saturday)
    extra = DateException(saturday, time(9), time(10), available=True)
    assert local_starts(slots(start=start, end=end, exceptions=[extra])) == [
        "03-07 09:00",
        "03-07 09:15",
        "03-07 09:30",
    ]


def test_blocked_range_and_buffer_cannot_touch_it():
    start, end = day_range(MONDAY)
    blocked = DateException(MONDAY, time(14), time(15), available=False)
    result = local_starts(slots(start=start, end=end, exceptions=[blocked], buffer=timedelta(minutes=5)))
    assert "03-02 13:15" in result
    assert "03-02 13:30" not in result  # 13:30-14:00 + 5 min buffer
    assert not [s for s in result if s.startswith("03-02 14")]
    assert "03-02 15:00" in result


def test_day_off_wins_over_special_hours_and_other_days_untouched():
    start = at(0)
    end = at(0, day=MONDAY + timedelta(days=2))
    exceptions = [
        DateException(MONDAY, time(10), time(11), available=True),
        DateException(MONDAY, None, None, available=False),
    ]
    result = local_starts(slots(start=start, end=end, exceptions=exceptions))
    assert result and all(s.startswith("03-03") for s in result)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": time(10), "end": None, "available": False},
        {"start": None, "end": None, "available": True},
        {"start": time(11), "end": time(10), "available": True},
    ],
)
def test_inconsistent_exceptions_are_rejected(kwargs):
    with pytest.raises(ValueError):
        DateException(MONDAY, **kwargs)


@pytest.mark.parametrize("args", [(7, time(9), time(17)), (0, time(17), time(9)), (0, time(9), time(9))])
def test_invalid_working_hours_are_rejected(args):
    with pytest.raises(ValueError):
        WorkingHours(*args)


# --- notice, range, arguments --------------------------------------------------------------


def test_min_notice_rounds_up_to_the_grid():
    start, end = day_range(MONDAY)
    now = at(10, 7)
    result = local_starts(slots(start=start, end=end, now=now, min_notice=timedelta(hours=1)))
    assert result[0] == "03-02 11:15"
    result = local_starts(slots(start=start, end=end, now=now, min_notice=timedelta(hours=2)))
    assert result[0] == "03-02 13:00"


def test_now_without_notice_excludes_the_past():
    start, end = day_range(MONDAY)
    assert local_starts(slots(start=start, end=end, now=at(16, 30)))[0] == "03-02 16:30"
    assert slots(start=start, end=end, now=at(16, 31)) == []


def test_range_bounds_the_whole_appointment():
    result = local_starts(slots(start=at(10, 5), end=at(14)))
    assert result[0] == "03-02 10:15"
    assert result[-1] == "03-02 13:30"
    assert slots(start=at(14), end=at(10)) == []


def test_naive_datetimes_and_bad_durations_are_rejected():
    start, end = day_range(MONDAY)
    with pytest.raises(ValueError):
        slots(start=start.replace(tzinfo=None), end=end)
    with pytest.raises(ValueError):
        slots(start=start, end=end, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        slots(start=start, end=end, duration=timedelta(0))
    with pytest.raises(ValueError):
        slots(start=start, end=end, step=timedelta(0))
    with pytest.raises(ValueError):
        slots(start=start, end=end, buffer=timedelta(minutes=-5))
    with pytest.raises(ValueError):
        slots(start=start, end=end, busy=[Busy(datetime(2026, 3, 2, 10), at(11))])


# --- daylight saving -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "week_start", "change_day"),
    [
        ("America/New_York", date(2026, 3, 5), date(2026, 3, 8)),
        ("America/New_York", date(2026, 10, 29), date(2026, 11, 1)),
        ("Europe/Madrid", date(2026, 3, 26), date(2026, 3, 29)),
        ("Europe/Madrid", date(2026, 10, 22), date(2026, 10, 25)),
    ],
)
def test_nine_to_five_stays_nine_to_five_local_across_dst(zone_name, week_start, change_day):
    zone = ZoneInfo(zone_name)
    start = datetime.combine(week_start, time(0), tzinfo=zone)
    end = start + timedelta(days=7)
    result = slots(tz=zone_name, hours=EVERY_DAY_9_17, start=start, end=end)
    by_day: dict[date, list[tuple[datetime, datetime]]] = {}
    for s, e in result:
        by_day.setdefault(s.astimezone(zone).date(), []).append((s, e))
    assert len(by_day) == 7
    offsets = set()
    for day, day_slots in by_day.items():
        first, last = day_slots[0], day_slots[-1]
        assert first[0].astimezone(zone).time() == time(9)
        assert last[1].astimezone(zone).time() == time(17)
        assert len(day_slots) == 31
        offsets.add(first[0].astimezone(zone).utcoffset())
    assert len(offsets) == 2  # the UTC time really moved
    before = by_day[change_day - timedelta(days=1)][0][0]
    after = by_day[change_day][0][0]
    assert after - before != timedelta(days=1)


def test_block_over_the_spring_forward_gap_keeps_real_time_and_local_grid():
    sunday = date(2026, 3, 8)
    hours = [WorkingHours(6, time(1), time(4))]
    start, end = day_range(sunday)
    result = slots(hours=hours, start=start, end=end)
    # 01:00 EST to 04:00 EDT is two real hours; 01:45 EST + 30 min ends at 03:15 EDT.
    assert local_starts(result) == [
        "03-08 01:00",
        "03-08 01:15",
        "03-08 01:30",
        "03-08 01:45",
        "03-08 03:00",
        "03-08 03:15",
        "03-08 03:30",
    ]


def test_spring_forward_grid_is_real_time_steps():
    sunday = date(2026, 3, 8)
    hours = [WorkingHours(6, time(1), time(4))]
    start, end = day_range(sunday)
    result = slots(hours=hours, start=start, end=end)
    starts = [s for s, _ in result]
    assert starts[0] == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert starts[-1] + timedelta(minutes=30) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise(starts))


def test_nonexistent_block_start_begins_at_the_jump():
    sunday = date(2026, 3, 8)
    hours = [WorkingHours(6, time(2, 30), time(4))]
    start, end = day_range(sunday)
    result = slots(hours=hours, start=start, end=end)
    assert result[0][0] == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert local_starts(result)[0] == "03-08 03:00"


def test_fall_back_block_covers_the_repeated_hour_twice():
    sunday = date(2026, 11, 1)
    hours = [WorkingHours(6, time(0), time(3))]
    start, end = day_range(sunday)
    result = slots(hours=hours, start=start, end=end, duration=timedelta(hours=1), step=timedelta(hours=1))
    assert [s for s, _ in result] == [
        datetime(2026, 11, 1, 4, tzinfo=UTC),  # 00:00 EDT
        datetime(2026, 11, 1, 5, tzinfo=UTC),  # 01:00 EDT
        datetime(2026, 11, 1, 6, tzinfo=UTC),  # 01:00 EST
        datetime(2026, 11, 1, 7, tzinfo=UTC),  # 02:00 EST
    ]


def test_local_instant_resolution_rules():
    assert local_instant(date(2026, 3, 8), time(2, 30), NY) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert local_instant(date(2026, 3, 8), time(2, 30), NY, prefer="later") == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert local_instant(date(2026, 11, 1), time(1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert local_instant(date(2026, 11, 1), time(1, 30), NY, prefer="later") == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert local_instant(date(2026, 3, 29), time(2, 15), MADRID) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert local_instant(date(2026, 7, 1), time(9), MADRID) == datetime(2026, 7, 1, 7, tzinfo=UTC)


# --- speed ---------------------------------------------------------------------------------


def month_of_busy(seed: int = 7, count: int = 300) -> list[Busy]:
    rng = random.Random(seed)
    first = datetime(2026, 3, 1, tzinfo=NY)
    busy = []
    for _ in range(count):
        day = first + timedelta(days=rng.randrange(31))
        s = day.replace(hour=rng.randrange(9, 17), minute=rng.choice((0, 15, 30, 45)))
        busy.append(Busy(s, s + timedelta(minutes=rng.choice((15, 30, 45, 60)))))
    return busy


def test_a_month_with_300_busy_intervals_is_fast():
    busy = month_of_busy()
    kwargs: dict[str, Any] = dict(
        tz="America/New_York",
        hours=WEEKDAYS_LUNCH,
        exceptions=[DateException(date(2026, 3, 17), None, None, available=False)],
        busy=busy,
        duration=timedelta(minutes=30),
        buffer=timedelta(minutes=10),
        range_start=datetime(2026, 3, 1, tzinfo=NY),
        range_end=datetime(2026, 4, 1, tzinfo=NY),
        now=PAST,
        min_notice=timedelta(hours=2),
    )
    timings = []
    for _ in range(7):
        t0 = clock.perf_counter()
        result = open_slots(**kwargs)
        timings.append(clock.perf_counter() - t0)
    assert result
    assert min(timings) < 0.010, f"best of 7: {min(timings) * 1000:.2f} ms"


# --- properties ----------------------------------------------------------------------------

ZONES = ["America/New_York", "Europe/Madrid", "America/Los_Angeles", "UTC", "Australia/Sydney"]
quarter_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def blocks(draw):
    start = draw(quarter_times)
    length = draw(st.integers(1, 16)) * timedelta(minutes=30)
    end_dt = datetime.combine(date(2000, 1, 1), start) + length
    if end_dt.date() != date(2000, 1, 1) or end_dt.time() == time(0):
        return start, time(23, 45) if start < time(23, 45) else None
    return start, end_dt.time()


@st.composite
def scenarios(draw):
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    hours = []
    for weekday in draw(st.sets(st.integers(0, 6), min_size=1, max_size=7)):
        for start, end in draw(st.lists(blocks(), min_size=1, max_size=3)):
            if end is not None and end > start:
                hours.append(WorkingHours(weekday, start, end))
    first_day = draw(
        st.sampled_from(
            [
                date(2026, 3, 6),
                date(2026, 3, 27),
                date(2026, 10, 23),
                date(2026, 10, 30),
                date(2026, 4, 3),
                date(2026, 6, 15),
            ]
        )
    )
    days = draw(st.integers(1, 5))
    range_start = datetime.combine(first_day, draw(quarter_times), tzinfo=zone)
    range_end = range_start + timedelta(days=days, minutes=draw(st.integers(0, 600)))
    exceptions = []
    for offset in draw(st.lists(st.integers(0, days), max_size=3)):
        day = first_day + timedelta(days=offset)
        kind = draw(st.sampled_from(["off", "special", "blocked"]))
        if kind == "off":
            exceptions.append(DateException(day, None, None, available=False))
        else:
            start, end = draw(blocks())
            if end is not None and end > start:
                exceptions.append(DateException(day, start, end, available=kind == "special"))
    busy = []
    for _ in range(draw(st.integers(0, 25))):
        s = range_start + timedelta(minutes=draw(st.integers(-120, days * 1440)))
        busy.append(Busy(s, s + timedelta(minutes=draw(st.integers(1, 180)))))
    return dict(
        tz=zone_name,
        hours=hours,
        exceptions=exceptions,
        busy=busy,
        duration=timedelta(minutes=draw(st.sampled_from([10, 15, 20, 30, 45, 60, 90]))),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 5, 10, 15]))),
        range_start=range_start,
        range_end=range_end,
        now=range_start + timedelta(minutes=draw(st.integers(-600, 3000))),
        min_notice=timedelta(minutes=draw(st.sampled_from([0, 30, 120, 1440]))),
        step=timedelta(minutes=draw(st.sampled_from([5, 10, 15, 30]))),
    )


def oracle_blocks(kw) -> list[tuple[datetime, datetime]]:
    """Working blocks recomputed straightforwardly from the rules."""
    zone = ZoneInfo(kw["tz"])
    day = kw["range_start"].astimezone(zone).date() - timedelta(days=1)
    last = kw["range_end"].astimezone(zone).date() + timedelta(days=1)
    out = []
    while day <= last:
        excs = [e for e in kw["exceptions"] if e.day == day]
        if not any(not e.available and e.start is None for e in excs):
            special = [(e.start, e.end) for e in excs if e.available]
            walls = special or [(h.start, h.end) for h in kw["hours"] if h.weekday == day.weekday()]
            for s, e in walls:
                out.append(
                    (
                        local_instant(day, s, zone, prefer="earlier"),
                        local_instant(day, e, zone, prefer="later"),
                    )
                )
        day += timedelta(days=1)
    return out


def merged_blocks(kw) -> list[list[datetime]]:
    """Touching or overlapping blocks are one stretch of working time."""
    merged: list[list[datetime]] = []
    for s, e in sorted(b for b in oracle_blocks(kw) if b[1] > b[0]):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def oracle_taken(kw) -> list[tuple[datetime, datetime]]:
    zone = ZoneInfo(kw["tz"])
    taken = [(b.start, b.end) for b in kw["busy"]]
    for e in kw["exceptions"]:
        if not e.available and e.start is not None:
            taken.append(
                (
                    local_instant(e.day, e.start, zone, prefer="earlier"),
                    local_instant(e.day, e.end, zone, prefer="later"),
                )
            )
    return taken


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_property_slots_respect_every_rule(kw):
    result = open_slots(**kw)
    assert result == sorted(result)
    assert len(result) == len(set(result))
    blocks_ = merged_blocks(kw)
    taken = oracle_taken(kw)
    earliest = max(kw["range_start"], kw["now"] + kw["min_notice"])
    for s, e in result:
        assert s.utcoffset() == timedelta(0)
        assert e - s == kw["duration"]
        assert s >= earliest
        assert e <= kw["range_end"]
        assert any(bs <= s and e <= be for bs, be in blocks_), "slot outside working hours"
        need_end = s + kw["duration"] + kw["buffer"]
        for ts, te in taken:
            assert not (ts < need_end and s < te), "slot overlaps busy + buffer"


def brute_force(kw) -> list[tuple[datetime, datetime]]:
    """Every grid point of every merged block, checked against every busy interval."""
    merged = merged_blocks(kw)
    taken = oracle_taken(kw)
    earliest = max(kw["range_start"], kw["now"] + kw["min_notice"])
    out = []
    for bs, be in merged:
        s = bs
        while s + kw["duration"] <= be:
            e = s + kw["duration"]
            need_end = e + kw["buffer"]
            if (
                s >= earliest
                and e <= kw["range_end"]
                and not any(ts < need_end and s < te for ts, te in taken if te > ts)
            ):
                out.append((s.astimezone(UTC), e.astimezone(UTC)))
            s += kw["step"]
    return sorted(set(out))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_property_matches_a_brute_force_search(kw):
    assert open_slots(**kw) == brute_force(kw)
