"""A freed slot is offered to the waitlist only when it lies inside the provider's working hours:
a visit booked after hours (an explicit, audited override) frees no slot patients may take."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from converge.core import clock
from converge.reminders.waitlist import waitlist_add, waitlist_send_batches
from converge.scheduling.models import SlotOffer, SlotOfferRecipient
from converge.scheduling.services import appointment_book, appointment_move, appointment_set_status
from tests.reminders.conftest import make_patient

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=NY)
THURSDAY_6PM = datetime(2026, 3, 5, 18, 0, tzinfo=NY)  # the clinic's hours end at 17:00


def _after_hours_visit(clinic, patient):
    return appointment_book(
        patient=patient,
        provider=clinic.provider,
        start=THURSDAY_6PM,
        appointment_type=clinic.visit,
        override_hours=True,
        override_reason="only time the patient could come",
    )


def test_a_cancelled_after_hours_visit_is_not_offered_to_the_waitlist(clinic):
    patient = make_patient(clinic)
    waiting = make_patient(clinic, phone="+15552010002")
    with clock.frozen(MONDAY_9AM):
        visit = _after_hours_visit(clinic, patient)
        waitlist_add(patient=waiting, actor=None)
        appointment_set_status(appointment=visit, status="cancelled")
        waitlist_send_batches()
    assert not SlotOffer.objects.exists() and not SlotOfferRecipient.objects.exists()


def test_moving_an_after_hours_visit_into_hours_offers_nothing_for_the_old_time(clinic):
    patient = make_patient(clinic)
    waiting = make_patient(clinic, phone="+15552010002")
    with clock.frozen(MONDAY_9AM):
        visit = _after_hours_visit(clinic, patient)
        waitlist_add(patient=waiting, actor=None)
        appointment_move(appointment=visit, start=THURSDAY_6PM - timedelta(hours=4))
    assert not SlotOffer.objects.exists()


def test_a_cancelled_visit_inside_hours_is_still_offered(clinic):
    patient = make_patient(clinic)
    waiting = make_patient(clinic, phone="+15552010002")
    with clock.frozen(MONDAY_9AM):
        visit = appointment_book(
            patient=patient,
            provider=clinic.provider,
            start=THURSDAY_6PM - timedelta(hours=3),
            appointment_type=clinic.visit,
        )
        waitlist_add(patient=waiting, actor=None)
        appointment_set_status(appointment=visit, status="cancelled")
        waitlist_send_batches()
    assert SlotOffer.objects.get().start == visit.start
    assert SlotOfferRecipient.objects.get().entry.patient_id == waiting.pk


def test_moving_a_visit_inside_hours_offers_its_old_time(clinic):
    """Found by the scheduler journey: a move inside working hours answered 500 (the offer
    pointed at an unsaved stand-in for the old time) whenever anyone was on the waitlist."""
    patient = make_patient(clinic)
    waiting = make_patient(clinic, phone="+15552010002")
    old_start = THURSDAY_6PM - timedelta(hours=3)
    with clock.frozen(MONDAY_9AM):
        visit = appointment_book(
            patient=patient, provider=clinic.provider, start=old_start, appointment_type=clinic.visit
        )
        waitlist_add(patient=waiting, actor=None)
        appointment_move(appointment=visit, start=old_start - timedelta(hours=2))
    offer = SlotOffer.objects.get()
    assert (offer.start, offer.freed_from_id) == (old_start, visit.pk)
