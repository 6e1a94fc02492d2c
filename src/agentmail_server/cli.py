"""The agentmail-server command: serve | migrate | create-organization | create-api-key | dns-records."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .config import Settings, get_settings
from .db import migrate
from .db.engine import Database
from .telemetry import logs

T = TypeVar("T")


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _banner(settings: Settings, org_id: str, key: str | None) -> str:
    http = f"http://{settings.http_host}:{settings.http_port}"
    lines = [
        "",
        "agentmail-server is ready",
        f"  REST + WebSocket   {http}/v0   (WebSocket: ws://{settings.http_host}:{settings.http_port}/v0)",
        f"  MCP                {http}/mcp   (streamable HTTP; x-api-key or Authorization: Bearer)",
        f"  SMTP               {settings.smtp_host}:{settings.smtp_port}",
        f"  database           {settings.database_url}",
        f"  organization       {org_id}",
    ]
    if key:
        lines += [
            f"  API key            {key}",
            "  (shown once; it is stored hashed. Set AGENTMAIL_ROOT_API_KEY to choose it yourself.)",
        ]
    lines += [
        "",
        "  from agentmail import AgentMail, AgentMailEnvironment",
        f'  client = AgentMail(api_key="...", environment=AgentMailEnvironment(http="{http}",'
        f' websockets="ws://{settings.http_host}:{settings.http_port}"))',
        "",
    ]
    return "\n".join(lines)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    migrate.upgrade(settings.database_url)
    print(f"database at head: {settings.database_url}")
    return 0


def cmd_serve(settings: Settings, _: argparse.Namespace) -> int:
    import uvicorn

    from .api.ws_protocol import EventSocketProtocol
    from .app import create_app
    from .services import organizations
    from .workers import process

    migrate.upgrade(settings.database_url)
    created = _with_db(settings, lambda db: organizations.bootstrap(db, root_api_key=settings.root_api_key))
    # What start-up made (modules, the app's schemas) lives as long as the process. Frozen, a full
    # collection no longer walks it (a pause in every WebSocket fan-out and worker job that ran into
    # one) nor writes to it, which in a forked child copies the pages it shares with this process.
    gc.freeze()
    if settings.worker_in_children:
        # Now: the database is ready for them, every module is imported, and no thread runs yet.
        process.fork_children(settings, settings.worker_processes)
    if created is not None:
        shown = None if settings.root_api_key else created.api_key
        print(_banner(settings, created.organization.id, shown), flush=True)
    else:
        print(f"agentmail-server starting on http://{settings.http_host}:{settings.http_port}", flush=True)
    uvicorn.run(
        create_app(settings), host=settings.http_host, port=settings.http_port, log_level=settings.log_level,
        proxy_headers=True, server_header=False,
        ws=EventSocketProtocol,  # permessage-deflate compressing each event once for all subscribers
        # Logging is configured once (telemetry.logs); requests are logged by RequestTelemetry.
        log_config=None, access_log=False,
    )
    return 0


def cmd_create_organization(settings: Settings, args: argparse.Namespace) -> int:
    from .services import organizations

    migrate.upgrade(settings.database_url)
    created = _with_db(settings, lambda db: organizations.create_organization(db, name=args.name))
    _emit(args, {"organization_id": created.organization.id, "api_key_id": created.api_key_id,
                 "api_key": created.api_key})
    return 0


def cmd_create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from .db.tables import Organization
    from .services import api_keys

    migrate.upgrade(settings.database_url)

    async def work(db: Database) -> dict[str, str]:
        async with db.write() as session:
            org_id = args.organization or await session.scalar(
                select(Organization.id).order_by(Organization.created_at).limit(1)
            )
            if org_id is None or await session.get(Organization, org_id) is None:
                raise SystemExit("no such organization (run `agentmail-server serve` once, or create one)")
            created = api_keys.new_key_row(organization_id=org_id, name=args.name)
            session.add(created.row)
        return {"organization_id": org_id, "api_key_id": created.row.id, "api_key": created.secret}

    _emit(args, _with_db(settings, work))
    return 0


def cmd_dns_records(settings: Settings, args: argparse.Namespace) -> int:
    """The DKIM TXT record of the default domain (its key is generated here if the server never ran)."""
    from .services import dkim_keys

    migrate.upgrade(settings.database_url)
    key = _with_db(settings, lambda db: dkim_keys.ensure(db, settings.default_domain, settings.dkim_selector))
    record = dkim_keys.dns_record(key)
    _emit(args, {"domain": record.domain, "selector": record.selector, "type": record.type, "name": record.name,
                 "value": record.value})
    return 0


def _emit(args: argparse.Namespace, payload: dict[str, str]) -> None:
    if args.json:
        print(json.dumps(payload))
    else:
        for key, value in payload.items():
            print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentmail-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="apply migrations, then run the API, WebSocket, SMTP listener and workers")
    sub.add_parser("migrate", help="apply database migrations and exit")
    org = sub.add_parser("create-organization", help="create an organization and print its first API key")
    org.add_argument("--name", default=None)
    org.add_argument("--json", action="store_true", help="print JSON")
    key = sub.add_parser("create-api-key", help="mint an unrestricted organization API key")
    key.add_argument("--organization", default=None, help="organization id (default: the first one)")
    key.add_argument("--name", default="cli")
    key.add_argument("--json", action="store_true", help="print JSON")
    records = sub.add_parser("dns-records", help="show the DKIM TXT record to publish for the default domain")
    records.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    commands: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
        "serve": cmd_serve,
        "migrate": cmd_migrate,
        "create-organization": cmd_create_organization,
        "create-api-key": cmd_create_api_key,
        "dns-records": cmd_dns_records,
    }
    return commands[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
