"""Part 2 of bench/reminders.py: reminders dispatched through a local Twilio-shaped provider that
answers after 50 ms, under a per-channel rate limit; prints the achieved rate as a share of it."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LATENCY = 0.05
RATE_LIMIT = 10.0  # messages per second (a Twilio Messaging Service's default)
COUNT = 300
DAYTIME_CANDIDATES = (
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Pacific/Honolulu",
    "America/Los_Angeles",
)


class _Provider(BaseHTTPRequestHandler):
    sends: list[float] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        time.sleep(LATENCY)
        with self.lock:
            self.sends.append(time.monotonic())
            sid = f"SM{len(self.sends):032x}"
        body = json.dumps({"sid": sid, "status": "queued", "num_segments": "1"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def bench_dispatch() -> float:
    from zoneinfo import ZoneInfo

    from converge.connectors.channel_setup import sms_channel_create
    from converge.connectors.models import Channel
    from converge.conversations.outbox import outbox_dispatch_batch
    from converge.core import clock
    from converge.patients.models import ContactPoint, Patient
    from converge.practices.services import practice_create
    from converge.reminders.services import reminders_dispatch_due, reminders_plan
    from converge.scheduling.models import AppointmentType, Provider
    from converge.scheduling.services import appointment_book

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    practice = practice_create(name="Dispatch Clinic", slug="dispatch-bench")
    channel = sms_channel_create(
        practice=practice,
        account_sid="AC" + "1" * 32,
        auth_token="bench-token",
        from_number="+15005550006",
        api_base_url=f"http://127.0.0.1:{server.server_port}",
    )
    Channel.objects.filter(pk=channel.pk).update(settings={**channel.settings, "max_per_second": RATE_LIMIT})
    visit = AppointmentType.objects.create(practice=practice, name="Visit", duration_minutes=20)
    # Real time, not a frozen clock (the rate limiter measures real seconds): patients live in a
    # zone where it is daytime now, so no reminder is held back by quiet hours.
    now = clock.now()
    zone = next((z for z in DAYTIME_CANDIDATES if 10 <= now.astimezone(ZoneInfo(z)).hour <= 18), DAYTIME_CANDIDATES[0])
    providers = [Provider.objects.create(practice=practice, display_name=f"Dr. D{i}") for i in range(COUNT)]
    for i in range(COUNT):
        patient = Patient.objects.create(practice=practice, first_name=f"D{i}", preferred_channel="sms", time_zone=zone)
        ContactPoint.objects.create(practice=practice, patient=patient, kind="sms", address=f"+1555600{i:04d}")
        appointment = appointment_book(
            patient=patient,
            provider=providers[i],
            # Every 48 h reminder falls due within the last half hour: all are sendable now.
            start=now + timedelta(hours=48) - timedelta(minutes=5 + i % 25),
            appointment_type=visit,
            check_hours=False,  # booked by the clock, not by the providers' hours
        )
        reminders_plan(appointment)
    queued = 0
    while (n := reminders_dispatch_due()) > 0:
        queued += n
    started = time.monotonic()
    deadline = started + COUNT / RATE_LIMIT * 3 + 30
    while len(_Provider.sends) < queued and time.monotonic() < deadline:
        if outbox_dispatch_batch() == 0:
            time.sleep(0.01)
    server.shutdown()
    sends = sorted(_Provider.sends)
    if len(sends) < 2:
        print(f"dispatch: only {len(sends)} of {queued} reminders reached the provider")
        return 0.0
    achieved = (len(sends) - 1) / (sends[-1] - sends[0])
    share = achieved / RATE_LIMIT
    # The steady rate leaves the first second out (a bucket configured with a burst spends it there).
    steady_from = min(int(RATE_LIMIT), len(sends) - 2)
    steady = (len(sends) - 1 - steady_from) / (sends[-1] - sends[steady_from])
    verdict = "OK" if 0.95 <= share <= 1.0 else ("OVER" if share > 1.0 else "UNDER")
    print(
        f"dispatch: {len(sends)} of {queued} reminders through a provider with {int(LATENCY * 1000)} ms latency "
        f"at {achieved:.2f}/s under a {RATE_LIMIT:.0f}/s limit = {share:.1%} of the limit (bound: 95-100%) "
        f"{verdict}; steady rate after the first second: {steady:.2f}/s = {steady / RATE_LIMIT:.1%}"
    )
    return share
