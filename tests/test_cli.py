from __future__ import annotations

import os
import subprocess
import sys

import pytest

from converge.cli import main
from converge.conversations.models import Message
from converge.patients.models import Patient
from converge.practices.models import ApiToken, Practice, StaffMember


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")
    }
    return subprocess.run(
        [sys.executable, "-m", "converge.cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"PUBLIC_BASE_URL": "not a url"}, "PUBLIC_BASE_URL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"CONVERGE_OUTBOX_MAX_ATTEMPTS": "lots"}, "CONVERGE_OUTBOX_MAX_ATTEMPTS"),
        ({"DATABASE_POOL_SIZE": "big"}, "DATABASE_POOL_SIZE"),
    ],
)
def test_bad_configuration_stops_with_one_line(tmp_path, env, variable):
    result = run_cli("serve", "--port", "0", env={"CONVERGE_DATA_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]


def test_several_web_processes_need_redis(tmp_path):
    result = run_cli("serve", "--workers", "2", "--port", "0", env={"CONVERGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "--workers" in result.stderr and "REDIS_URL" in result.stderr


@pytest.mark.parametrize("value", ["0", "two"])
def test_workers_must_be_a_positive_number(tmp_path, value):
    result = run_cli("serve", "--workers", value, env={"CONVERGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "--workers" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_createadmin_token_and_simulate(capsys, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    assert (
        main(
            [
                "createadmin",
                "--practice",
                "lakeside",
                "--email",
                "Boss@Lakeside.example",
                "--password",
                "a-long-pass-phrase-77",
            ]
        )
        == 0
    )
    practice = Practice.objects.get(slug="lakeside")
    admin = StaffMember.objects.get(practice=practice)
    assert admin.role == "admin" and admin.user.email == "boss@lakeside.example"
    assert admin.user.password.startswith("argon2$")
    assert main(["createadmin", "--practice", "lakeside", "--email", "x@lakeside.example", "--password", "123"]) == 2
    assert "password" in capsys.readouterr().err
    assert main(["token", "create", "--practice", "lakeside", "--name", "ehr"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("cvg_")
    assert ApiToken.objects.get(practice=practice).token_hash != secret
    assert (
        main(
            [
                "simulate",
                "--practice",
                "lakeside",
                "--from",
                "+15552017788",
                "--channel",
                "whatsapp",
                "--direct",
                "Hello?",
            ]
        )
        == 0
    )  # through a running server: tests/connectors/test_simulate_via_server.py
    assert "simulator" in capsys.readouterr().out
    message = Message.objects.get(direction="in")  # (an after-hours reply may follow, depending on the hour)
    assert (message.body, message.channel.kind, message.channel.provider) == ("Hello?", "whatsapp", "simulator")
    assert main(["simulate", "--practice", "nope", "--from", "+15552017788", "x"]) == 2
    assert "--practice" in capsys.readouterr().err
    assert main(["simulate", "--practice", "lakeside", "--from", "garbage", "x"]) == 2
    assert "--from" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_demo_is_created_once_and_reused(capsys):
    assert main(["demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "maria@sunrise.example" in out
    practice = Practice.objects.get(slug="sunrise")
    assert StaffMember.objects.filter(practice=practice).count() >= 12
    roles = set(StaffMember.objects.filter(practice=practice).values_list("role", flat=True))
    assert {"front_desk", "scheduler", "nurse", "provider", "manager"} <= roles
    assert Patient.objects.filter(practice=practice, is_verified=True).count() >= 200
    assert Patient.objects.filter(practice=practice, language="es").exists()
    from converge.conversations.models import Conversation, Note
    from converge.scheduling.models import Appointment

    assert Appointment.objects.filter(practice=practice).count() >= 300
    conversations = Conversation.objects.filter(practice=practice)
    assert conversations.count() >= 60
    assert conversations.filter(status="resolved").exists() and conversations.filter(assignee__isnull=False).exists()
    assert Note.objects.filter(practice=practice).exists()
    kinds = set(Message.objects.filter(practice=practice).values_list("channel__kind", flat=True))
    assert {"sms", "whatsapp", "email", "webchat"} <= kinds
    counts = (Patient.objects.count(), Message.objects.count())
    assert main(["demo", "--no-serve"]) == 0
    assert (Patient.objects.count(), Message.objects.count()) == counts
