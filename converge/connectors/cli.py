"""`converge channel …`: set up WhatsApp Cloud API and Twilio SMS channels, list them (credentials
masked), test their credentials, and register WhatsApp templates."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    channel = sub.add_parser("channel", help="set up and check WhatsApp and SMS channels")
    channel.set_defaults(func=_usage)
    commands = channel.add_subparsers(dest="channel_command", required=True)

    add = commands.add_parser("add", help="set up a channel and print its webhook URLs")
    add.set_defaults(func=_usage)
    kinds = add.add_subparsers(dest="channel_kind", required=True)

    wa = kinds.add_parser("whatsapp", help="a WhatsApp Cloud API number")
    wa.add_argument("--practice", required=True)
    wa.add_argument("--phone-number-id", required=True, help="from Meta's WhatsApp API setup page")
    wa.add_argument("--access-token", help="a system-user access token (prompted for when omitted)")
    wa.add_argument("--app-secret", help="the Meta app's secret (prompted for when omitted)")
    wa.add_argument("--verify-token", help="any value; enter the same in Meta's webhook settings")
    wa.add_argument("--api-base-url", default="", help="default https://graph.facebook.com")
    wa.add_argument("--name", default="")
    wa.set_defaults(func=cmd_add_whatsapp)

    sms = kinds.add_parser("sms", help="a Twilio number or Messaging Service (SMS/MMS)")
    sms.add_argument("--practice", required=True)
    sms.add_argument("--account-sid", required=True)
    sms.add_argument("--auth-token", help="prompted for when omitted")
    sender = sms.add_mutually_exclusive_group(required=True)
    sender.add_argument("--from-number", default="", help="the Twilio number, E.164 (+14155550100)")
    sender.add_argument("--messaging-service-sid", default="")
    sms.add_argument("--api-base-url", default="", help="default https://api.twilio.com")
    sms.add_argument("--name", default="")
    sms.add_argument(
        "--keyword-replies",
        choices=["provider", "converge"],
        default="provider",
        help="who confirms STOP/START: Twilio's default opt-out handling (provider) or Converge",
    )
    sms.set_defaults(func=cmd_add_sms)
    from converge.connectors.cli_email_webchat import add_subcommands

    add_subcommands(kinds)

    ls = commands.add_parser("list", help="the practice's channels, credentials masked")
    ls.add_argument("--practice", required=True)
    ls.set_defaults(func=cmd_list)

    test = commands.add_parser("test", help="check a channel's credentials with its provider")
    test.add_argument("--practice", required=True)
    test.add_argument("--key", required=True, help="the channel key")
    test.set_defaults(func=cmd_test)

    template = commands.add_parser("template", help="register an approved WhatsApp template")
    template.add_argument("--practice", required=True)
    template.add_argument("--key", required=True, help="the WhatsApp channel's key")
    template.add_argument("--name", required=True)
    template.add_argument("--language", required=True, help="e.g. en_US, es")
    template.add_argument("--body", required=True, help="the template text with {{1}}, {{2}}, … placeholders")
    template.add_argument("--category", default="utility", choices=["utility", "marketing", "authentication"])
    template.add_argument("--status", default="approved", choices=["approved", "pending", "rejected"])
    template.set_defaults(func=cmd_template)


def _usage(args: argparse.Namespace) -> int:
    from converge.cli import CommandError

    raise CommandError("channel: choose a sub-command (see converge channel --help)")


def _practice(slug: str) -> Any:
    from converge.cli import _migrate, _practice, _setup

    _setup()
    _migrate()
    return _practice(slug)


def _secret(value: str | None, prompt: str, option: str) -> str:
    """A secret from its option or, better (not in shell history or `ps`), typed at a prompt."""
    from converge.cli import CommandError

    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise CommandError(f"{option}: required (or run in a terminal to be prompted)")
    return getpass.getpass(f"{prompt}: ")


def _option_error(exc: Exception) -> str:
    """ "phone_number_id: …" from a service becomes "--phone-number-id: …"."""
    field, sep, rest = str(exc).partition(": ")
    if sep and field.replace("_", "").isalpha():
        return f"--{field.replace('_', '-')}: {rest}"
    return str(exc)


def _print_created(channel: Any) -> None:
    from converge.connectors.channel_setup import webhook_urls

    print(f"Created {channel.name} ({channel.kind}, {channel.get_provider_display()})")
    print(f"Channel key: {channel.key}")
    print("Webhook URLs to paste into the provider's console:")
    for label, url in webhook_urls(channel):
        print(f"  {label}: {url}")


def cmd_add_whatsapp(args: argparse.Namespace) -> int:
    from converge.cli import CommandError

    practice = _practice(args.practice)
    from converge.connectors.channel_setup import ChannelSetupError, whatsapp_channel_create

    try:
        channel = whatsapp_channel_create(
            practice=practice,
            phone_number_id=args.phone_number_id,
            access_token=_secret(args.access_token, "Access token", "--access-token"),
            app_secret=_secret(args.app_secret, "App secret", "--app-secret"),
            verify_token=_secret(args.verify_token, "Verify token", "--verify-token"),
            api_base_url=args.api_base_url,
            name=args.name,
            actor="cli",
        )
    except ChannelSetupError as exc:
        raise CommandError(_option_error(exc)) from None
    _print_created(channel)
    print("  Verify token: the one you gave; subscribe the webhook to the `messages` field.")
    print(f"Then check the credentials: converge channel test --practice {practice.slug} --key {channel.key}")
    return 0


def cmd_add_sms(args: argparse.Namespace) -> int:
    from converge.cli import CommandError

    practice = _practice(args.practice)
    from converge.connectors.channel_setup import ChannelSetupError, sms_channel_create

    try:
        channel = sms_channel_create(
            practice=practice,
            account_sid=args.account_sid,
            auth_token=_secret(args.auth_token, "Auth token", "--auth-token"),
            from_number=args.from_number,
            messaging_service_sid=args.messaging_service_sid,
            api_base_url=args.api_base_url,
            name=args.name,
            keyword_replies=args.keyword_replies,
            actor="cli",
        )
    except ChannelSetupError as exc:
        raise CommandError(_option_error(exc)) from None
    _print_created(channel)
    print("  (On the number, or the Messaging Service's Integration page: 'A message comes in', HTTP POST.)")
    print(f"Then check the credentials: converge channel test --practice {practice.slug} --key {channel.key}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    practice = _practice(args.practice)
    from converge.connectors.channel_setup import masked_credentials, webhook_urls
    from converge.connectors.models import Channel, Provider
    from converge.connectors.ratelimit import max_per_second

    channels = Channel.objects.filter(practice=practice).order_by("kind", "name", "id")
    if not channels:
        print(f"{practice.slug} has no channels")
    for channel in channels:
        state = "enabled" if channel.enabled else "disabled"
        rate = max_per_second(channel)
        print(f"{channel.label}  [{channel.kind}, {channel.get_provider_display()}, {state}]")
        print(f"  key: {channel.key}")
        if channel.display_address:
            print(f"  address: {channel.display_address}")
        print(f"  send rate: {f'{rate:g}/s' if rate else 'no limit'}")
        if channel.provider != Provider.SIMULATOR:
            for name, masked in masked_credentials(channel).items():
                print(f"  {name}: {masked}")
        for label, url in webhook_urls(channel):
            print(f"  {label}: {url}")
    return 0


def _channel(practice: Any, key: str) -> Any:
    from converge.cli import CommandError
    from converge.connectors.models import Channel

    channel = Channel.objects.filter(practice=practice, key=key).first()
    if channel is None:
        raise CommandError(f"--key: {practice.slug} has no channel {key!r}")
    return channel


def cmd_test(args: argparse.Namespace) -> int:
    practice = _practice(args.practice)
    from converge.connectors.channel_setup import channel_check

    result = channel_check(channel=_channel(practice, args.key), actor="cli")
    print(("ok: " if result.ok else "FAILED: ") + result.detail)
    return 0 if result.ok else 1


def cmd_template(args: argparse.Namespace) -> int:
    from converge.cli import CommandError

    practice = _practice(args.practice)
    from converge.connectors.channel_setup import ChannelSetupError
    from converge.connectors.models import WhatsAppTemplate
    from converge.connectors.whatsapp_templates import whatsapp_template_save

    channel = _channel(practice, args.key)
    existing = WhatsAppTemplate.objects.filter(channel=channel, name=args.name, language=args.language).first()
    try:
        template = whatsapp_template_save(
            channel=channel,
            name=args.name,
            language=args.language,
            body=args.body,
            category=args.category,
            status=args.status,
            actor="cli",
            template=existing,
        )
    except ChannelSetupError as exc:
        raise CommandError(_option_error(exc)) from None
    print(f"Template {template.name} ({template.language}) is registered as {template.status}")
    return 0
