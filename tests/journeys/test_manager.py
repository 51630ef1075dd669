"""The practice manager's week: the figures (real rates, not zeros), who touched a patient's record
in the audit log in plain words, and a recall to a group the manager picks."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

AUDIT_PATIENT = "Karen Walker"
RAW_CODE = re.compile(r"\b[a-z_]+\.[a-z_]+\b")  # "appointment.read", "scheduling.appointment"


def _row_cells(page: Any, table: str, label: str) -> list[str]:
    row = page.locator(f"section[aria-labelledby={table}] tbody tr").filter(
        has=page.locator("th", has_text=re.compile(rf"^{re.escape(label)}"))
    )
    expect(row).to_have_count(1)
    cells: list[str] = row.first.locator("td").all_inner_texts()
    return cells


def test_manager_reads_figures_audits_a_patient_and_sends_a_recall(demo: Any, person: Any) -> None:
    manager = person("practice manager")
    page = manager.sign_in("Practice manager")

    # 1. Figures: the demo's past weeks show real rates.
    page.get_by_role("link", name="Figures", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Figures")
    for label in ("Confirmation rate", "No-show rate"):
        rates = [int(c.rstrip("%")) for c in _row_cells(page, "appt-table-title", label) if c.endswith("%")]
        assert rates and any(r > 0 for r in rates), (label, rates)
        assert all(0 <= r <= 100 for r in rates), (label, rates)
    responses = [c for c in _row_cells(page, "inbox-table-title", "Median first response") if re.match(r"^\d+[mhd]", c)]
    assert responses, "no week shows a median first response"
    manager.shot("manager-1-figures")

    # 2. The audit log, filtered by a patient's name, reads in plain words.
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Audit log").click()
    filters = page.locator("form.audit-filters")
    filters.get_by_role("textbox", name="Patient").fill(AUDIT_PATIENT)
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator(".audit-matched")).to_contain_text(AUDIT_PATIENT)
    # The header's search box is for searching, not an echo of the audit filters.
    expect(page.locator("#search-input")).to_have_value("")
    rows = page.locator(".audit-table tbody tr")
    expect(rows.first).not_to_contain_text("No audit rows match")
    assert rows.count() >= 1
    for cells in [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]:
        when, who, did, what, patient = cells[:5]
        assert patient == AUDIT_PATIENT, cells
        assert did and not RAW_CODE.search(did), cells
        assert not RAW_CODE.search(what) and not re.fullmatch(r"[\w.]+ \d+", what), cells
        assert who and not who.startswith("staff:"), cells
    manager.shot("manager-2-audit")

    # 3. Recall: patients with no visit in 12 months who have nothing booked; the manager keeps
    # the first three ticked and sends.
    page.get_by_role("link", name="Recall", exact=True).click()
    page.get_by_label("No visit in the last").check()
    page.get_by_label("Months").select_option(label="12 months")
    page.get_by_label("Leave out patients who already have an upcoming appointment").check()
    page.get_by_role("button", name="Show patients").click()
    boxes = page.locator("section[aria-labelledby=patients-title] tbody input[type=checkbox]")
    expect(boxes.first).to_be_visible()
    assert boxes.count() > 3
    chosen = page.locator("section[aria-labelledby=patients-title] tbody label.who").all_inner_texts()[:3]
    for i in range(3, boxes.count()):
        boxes.nth(i).uncheck()
    manager.shot("manager-3-recall-chosen")
    page.get_by_role("button", name="Send recall").click()
    result = page.locator("section[aria-labelledby=result-title]")
    expect(result).to_be_visible()
    figures = dict(
        zip(
            result.locator("dt").all_inner_texts(),
            [int(n) for n in result.locator("dd").all_inner_texts()],
            strict=True,
        )
    )
    assert figures["Queued"] >= 1 and sum(figures.values()) == 3, figures
    expect(result).to_contain_text("Replies arrive in the inbox")
    manager.shot("manager-4-recall-sent")

    with demo.db() as db:
        batches = db.execute(
            "SELECT json_extract(detail, '$.patients'), json_extract(detail, '$.queued') FROM audit_auditevent"
            " WHERE action = 'recall.send'"
        ).fetchall()
    assert batches == [(3, figures["Queued"])], (batches, chosen)

    tablet = person("practice manager tablet", 768, 1024)
    tablet.sign_in("Practice manager")
    tablet.page.goto(f"{demo.url}/figures/")
    expect(tablet.page.locator("h1")).to_contain_text("Figures")
    tablet.shot("manager-5-figures")
