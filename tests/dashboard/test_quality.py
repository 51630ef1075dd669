"""Guards for the staff UI's safety rules: no inline scripts or handlers (a CSP without
'unsafe-inline' is coming), no innerHTML in our JavaScript, no |safe on data, htmx vendored with
its license and configured not to eval or cache pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dashboard.conftest import HTMX

DASHBOARD = Path(__file__).resolve().parents[2] / "converge" / "dashboard"
TEMPLATES = sorted((DASHBOARD / "templates").rglob("*.html"))
SCRIPTS = sorted(p for p in (DASHBOARD / "static" / "converge").glob("*.js"))


def test_templates_have_no_inline_script_or_event_handlers():
    assert TEMPLATES
    for path in TEMPLATES:
        text = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            assert "src=" in match.group(0), f"inline script in {path.name}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {path.name}"
        assert "hx-on" not in text, f"hx-on runs inline code ({path.name})"
        assert "javascript:" not in text, path.name
        assert "|safe" not in text and "autoescape off" not in text, path.name
        assert "style=" not in text, f"inline style in {path.name}"


def test_scripts_never_write_html_strings():
    assert SCRIPTS
    for path in SCRIPTS:
        text = path.read_text()
        # Property writes are the sinks; "innerHTML" as an htmx swap style names server HTML.
        assert not re.search(r"\.(inner|outer)HTML\b", text), path.name
        for sink in ("insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser"):
            assert sink not in text, f"{sink} in {path.name}"


def test_htmx_is_vendored_with_its_license():
    vendored = DASHBOARD / "static" / "converge" / "vendor" / "htmx.min.js"
    head = vendored.read_text()[:200]
    assert "htmx.org 2." in head and "BSD" in head
    assert (DASHBOARD / "static" / "converge" / "vendor" / "htmx.LICENSE.txt").exists()


@pytest.mark.django_db
def test_pages_configure_htmx_safely_and_load_only_external_scripts(client, conversation):
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', page).group(1)
    assert '"allowEval":false' in config and '"historyCacheSize":0' in config
    assert '"includeIndicatorStyles":false' in config
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all("src=" in s for s in scripts)
    assert 'data-idle-minutes="15"' in page


@pytest.mark.django_db
def test_static_files_are_served(client):
    for name in ("app.js", "live.js", "inbox.js", "keys.js", "idle.js", "composer.js", "util.js", "app.css"):
        response = client.get(f"/static/converge/{name}")
        assert response.status_code == 200, name
    assert client.get("/static/converge/vendor/htmx.min.js").status_code == 200


@pytest.mark.django_db
def test_every_form_field_has_a_label(client, conversation):
    for url in (f"/c/{conversation.pk}/", "/patients/", f"/patients/{conversation.patient_id}/", "/settings/replies/"):
        page = client.get(url).content.decode()
        ids = set(re.findall(r'<label[^>]+for="([^"]+)"', page))
        for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", page):
            attrs = tag.group(2)
            if re.search(r'type="(hidden|submit|checkbox)"', attrs):
                continue
            field_id = re.search(r'id="([^"]+)"', attrs)
            assert (field_id and field_id.group(1) in ids) or "aria-label=" in attrs, f"{url}: {tag.group(0)}"


@pytest.mark.django_db
def test_shortcuts_dialog_is_on_every_signed_in_page(client):
    page = client.get("/").content.decode()
    assert '<dialog id="shortcuts-dialog"' in page and 'aria-labelledby="shortcuts-title"' in page
    for key in ("j", "k", "Enter", "r", "n", "a", "e", "/", "?"):
        assert f"<kbd>{key}</kbd>" in page


@pytest.mark.django_db
def test_session_ping_and_idle_logout(client, staff):
    assert client.post("/session/ping").status_code == 204
    response = client.post("/logout/?idle=1")
    assert response.status_code == 302 and response.url == "/login/?idle=1"
    from converge.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="auth.idle_logout").exists()
    assert client.get("/inbox/list", headers=HTMX).status_code == 401


@pytest.mark.django_db
def test_settings_hub_links_the_settings_pages(client):
    page = client.get("/settings/").content.decode()
    for href in ("/settings/replies/", "/settings/channels/", "/settings/audit/", "/simulator/"):
        assert f'href="{href}"' in page
