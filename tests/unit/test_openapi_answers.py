"""The API document's answers are closed: a field the service answers but the document does
not name fails the answer checks in tests/http/test_billing_api.py."""

from __future__ import annotations

import jsonschema
import pytest

from settle.api.openapi import document
from tests.http.api_calls import check_answer

ANSWER = {
    "customer_id": "C1",
    "name": "Dana",
    "phone": "+14155550111",
    "email": None,
    "postal_code": "94110",
    "language": "en",
    "timezone": "America/Los_Angeles",
    "warnings": [{"field": "timezone", "reason": "guessed"}],
}


def test_a_customer_answer_with_a_field_the_document_does_not_name_is_refused():
    check_answer(document(), "CustomerOut", ANSWER)
    with pytest.raises(jsonschema.ValidationError):
        check_answer(document(), "CustomerOut", {**ANSWER, "created_at": "x"})
    with pytest.raises(jsonschema.ValidationError):
        warnings = [{"field": "timezone", "reason": "guessed", "extra": 1}]
        check_answer(document(), "CustomerOut", {**ANSWER, "warnings": warnings})
