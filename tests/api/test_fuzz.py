"""Property-based fuzzing of the OpenAPI schema against a real `songspace serve`, with
schemathesis's default checks on positive and negative data: no 5xx, every answer matches the
schema (status, content type, headers, body), requests the schema allows are accepted (or
answered 404/409/429 for a song, tag or user the data lacks), requests it forbids are rejected.

Bounded and deterministic: a fixed number of derandomized examples per operation, so the
whole run stays well under a minute. `/admin/reload` loads a whole artifact (about a second
a call): it gets fewer examples. `/generate` is fuzzed with negative data only: schema-valid
requests take the slow path (a clip, or 503 on this server without a text-to-music model),
which tests/api/test_generate.py covers over a tiny model."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

BOUNDED = {"deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}


@pytest.fixture(scope="session")
def api_schema(live):
    return schemathesis.openapi.from_url(live + "/openapi.json")


@pytest.fixture(scope="session")
def generate_schema(live):
    schema = schemathesis.openapi.from_url(live + "/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.NEGATIVE])
    schema.config.phases.examples.enabled = False  # the example is a valid request
    return schema


everything = schemathesis.pytest.from_fixture("api_schema")
reload = everything.include(path="/admin/reload")
generate = schemathesis.pytest.from_fixture("generate_schema").include(path="/generate")


@everything.exclude(path="/generate").exclude(path="/admin/reload").parametrize()
@settings(max_examples=25, **BOUNDED)
def test_the_schema_is_the_behaviour(case):
    case.call_and_validate()


@reload.parametrize()
@settings(max_examples=3, **BOUNDED)
def test_the_schema_is_the_behaviour_for_reload(case):
    case.call_and_validate()


@generate.parametrize()
@settings(max_examples=25, **BOUNDED)
def test_generate_rejects_what_its_schema_forbids(case):
    case.call_and_validate()
