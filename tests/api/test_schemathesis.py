"""The API, fuzzed by schemathesis from its own OpenAPI schema, as an admin and as an annotator:
no request ends in a server error, and every response has the shape the schema promises.

The real client (schemathesis's CLI, in a subprocess) talks HTTP to the real server (Django's
live server on the test database) with a token, like any API user. The number of examples per
operation is bounded so that the run fits the suite; `SCHEMATHESIS_EXAMPLES` raises it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from accounts.roles import Role

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "3"))
# The coverage phase (every boundary and negative case of every parameter) adds ~4,000 requests and
# ten minutes on two cores: SCHEMATHESIS_PHASES=examples,coverage,fuzzing for the full run.
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing")
CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.fixture
def api_with_data(settings, tmp_path):
    settings.IMPORT_ROOTS = [tmp_path / "imports"]
    settings.EXPORT_ROOTS = [str(tmp_path / "exports")]
    settings.VAR_DIR = tmp_path  # seed_demo draws its images here
    call_command("vocabulary_load", "--if-empty", "--release", "fuzzing", verbosity=0)
    call_command("seed_demo", "--count", "6", "--no-users", stdout=open(os.devnull, "w"))
    call_command("enqueue_samples", stdout=open(os.devnull, "w"))


def _token(make_user, role: Role) -> str:
    return Token.objects.create(user=make_user(role)).key


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANNOTATOR])
def test_the_api_survives_fuzzing_and_matches_its_schema(live_server, api_with_data, make_user, role, tmp_path):
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{live_server.url}/api/schema/",
        "--header",
        f"Authorization: Token {_token(make_user, role)}",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        PHASES,
        "--checks",
        CHECKS,
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--seed",
        "20261203",
        "--warnings",
        "off",
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=1500)
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    print(f"schemathesis as {role}: {generated.group(1) if generated else '?'} test cases")  # shown with pytest -s
    assert result.returncode == 0, output[-12000:]
    assert generated and int(generated.group(1)) >= 100, output[-3000:]
