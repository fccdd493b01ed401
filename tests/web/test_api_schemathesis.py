"""Schemathesis against /openapi.json: requests generated from the API's own document (valid and
invalid ones) never get a 5xx, and every answer conforms to the document (status codes, media types,
bodies). Bounded: a fixed number of examples per operation, no deadline (the machine is shared)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_server_errors_and_answers_conform(site, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", site.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    calls: list[int] = []
    for number, operation in enumerate(operations):
        headers = site.headers(("officer", "coordinator", "viewer_own")[number % 3])

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call_and_validate(headers=headers, checks=CHECKS)  # noqa: B023 - run() is called right here
            calls.append(response.status_code)

        try:
            run()
        except Unsatisfiable:
            # Nothing to make invalid (no parameters, no body: GET /api/health): only positive cases.
            assert mode is GenerationMode.NEGATIVE and not operation.path_parameters and not operation.query \
                and not operation.body
    assert len(calls) >= len(operations) * 3  # examples really ran
