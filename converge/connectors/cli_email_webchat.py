"""`converge channel add email|webchat`: connect a mailbox (IMAP + SMTP) or put the chat widget
on a website, then print what to do next."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def add_subcommands(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    email = kinds.add_parser("email", help="a mailbox read over IMAP and sent from over SMTP")
    email.add_argument("--practice", required=True)
    email.add_argument("--address", required=True, help="the mailbox's address, e.g. frontdesk@clinic.example")
    email.add_argument("--imap-host", required=True)
    email.add_argument("--imap-port", type=int, default=993)
    email.add_argument("--imap-user", required=True)
    email.add_argument("--imap-password", help="prompted for when omitted")
    email.add_argument("--imap-folder", default="INBOX")
    email.add_argument("--smtp-host", required=True)
    email.add_argument("--smtp-port", type=int, default=587)
    email.add_argument("--smtp-user", default="", help="default: the IMAP user")
    email.add_argument("--smtp-password", help="prompted for when omitted (default: the IMAP password)")
    email.add_argument(
        "--tls",
        choices=["ssl", "starttls", "none"],
        help="both servers; default from the ports (993/465 ssl, 143/587 starttls); none only for localhost",
    )
    email.add_argument("--imap-tls", choices=["ssl", "starttls", "none"], help="overrides --tls for IMAP")
    email.add_argument("--smtp-tls", choices=["ssl", "starttls", "none"], help="overrides --tls for SMTP")
    email.add_argument("--poll-seconds", type=int, default=60, help="how often to read new mail (at least 15)")
    email.add_argument("--skip-existing", action="store_true", help="ignore the mail already in the folder")
    email.add_argument("--no-check", action="store_true", help="do not log in to both servers first")
    email.add_argument("--name", default="Email")
    email.set_defaults(func=cmd_add_email)

    webchat = kinds.add_parser("webchat", help="the chat widget for the practice's website")
    webchat.add_argument("--practice", required=True)
    webchat.add_argument(
        "--allowed-origin",
        action="append",
        required=True,
        help="a website allowed to show the chat, e.g. https://www.example-clinic.com (repeatable)",
    )
    webchat.add_argument("--name", default="Website chat")
    webchat.set_defaults(func=cmd_add_webchat)


def _practice(slug: str) -> Any:
    from converge.cli import _migrate, _practice, _setup

    _setup()
    _migrate()
    return _practice(slug)


def _secret(value: str | None, prompt: str, option: str, default: str | None = None) -> str:
    from converge.cli import CommandError

    if value is not None:
        return value
    if default is not None:
        return default
    if not sys.stdin.isatty():
        raise CommandError(f"{option}: required (or run in a terminal to be prompted)")
    return getpass.getpass(f"{prompt}: ")


def _option(message: str) -> str:
    field, sep, rest = message.partition(": ")
    if sep and " " not in field:
        return f"--{field.replace('_', '-')}: {rest}"
    return message


def cmd_add_email(args: argparse.Namespace) -> int:
    from converge.cli import CommandError

    practice = _practice(args.practice)
    from converge.connectors.email_channels import (
        EmailSetup,
        EmailSetupError,
        email_channel_check,
        email_channel_create,
        email_setup_validate,
    )

    imap_password = _secret(args.imap_password, "IMAP password", "--imap-password")
    setup = EmailSetup(
        address=args.address,
        imap_host=args.imap_host,
        imap_port=args.imap_port,
        imap_user=args.imap_user,
        imap_password=imap_password,
        imap_folder=args.imap_folder,
        smtp_host=args.smtp_host,
        smtp_port=args.smtp_port,
        smtp_user=args.smtp_user or args.imap_user,
        smtp_password=_secret(
            args.smtp_password,
            "SMTP password",
            "--smtp-password",
            default=imap_password if not args.smtp_user or args.smtp_user == args.imap_user else None,
        ),
        tls=args.tls,
        imap_tls=args.imap_tls,
        smtp_tls=args.smtp_tls,
        name=args.name,
        poll_seconds=args.poll_seconds,
        skip_existing=args.skip_existing,
    )
    try:
        email_setup_validate(setup)
        channel = email_channel_create(practice=practice, setup=setup, actor="cli")
    except EmailSetupError as exc:
        raise CommandError(_option(str(exc))) from None
    print(f"Created {channel.name} for {channel.display_address} (channel key {channel.key})")
    if not args.no_check:
        for server, ok, message in email_channel_check(channel):
            print(f"  {server}: {'ok' if ok else 'FAILED'} - {message}")
    print("Next:")
    print("  - Run the worker (`converge serve` runs one; or `converge worker`): it reads new mail every")
    print(f"    {args.poll_seconds} seconds and sends replies through the SMTP server.")
    print(f"  - Replies go out from {channel.display_address} with a Reply-To of the form")
    local, _, domain = channel.display_address.partition("@")
    print(f"    {local}+<token>@{domain}: make sure that mailbox receives plus-addressed mail (most do).")
    print("  - Mail that cannot be read is set aside on the channel's settings page:")
    print(f"    /settings/channels/email/{channel.pk}/")
    return 0


def cmd_add_webchat(args: argparse.Namespace) -> int:
    from converge.cli import CommandError

    practice = _practice(args.practice)
    from converge.connectors.webchat import webchat_channel_create, widget_script_tag
    from converge.providers.webchat.protocol import WebchatError

    try:
        channel = webchat_channel_create(practice=practice, origins=args.allowed_origin, actor="cli", name=args.name)
    except WebchatError as exc:
        raise CommandError(_option(str(exc))) from None
    origins = ", ".join(channel.settings["allowed_origins"])
    print(f"Created {channel.name} (channel key {channel.key}) for {origins}")
    print("Add this tag to every page of the website, just before </body>:")
    print()
    print(f"  {widget_script_tag(channel)}")
    print()
    print('Options: data-color="#0f766e"  data-position="left"  data-label="Chat with us"')
    print("The chat refuses any other website; PUBLIC_BASE_URL must be the address visitors' browsers reach.")
    return 0
