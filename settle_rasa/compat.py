"""The one patch Settle applies to Rasa: custom action results are checked against a schema
compiled once, not re-checked against the JSON Schema metaschema on every call.

Rasa 3.6's `RemoteAction._validate_action_result` (rasa/core/actions/action.py) calls
`jsonschema.validate(result, spec)`, and `jsonschema.validate` first runs
`check_schema(spec)`: the whole events schema against the metaschema, 13–19 ms of CPU per
custom action call on Rasa's single event loop, for a schema that never changes. Here the
validator class is picked and the schema checked once; each call is then
`jsonschema.validate` without that check: a validator for the same schema (0.02 ms to make,
so none is shared), the same error picked (`best_match`), the same
`jsonschema.ValidationError` raised with Rasa's own message. A malformed action server
response is rejected exactly as before.

Applied by `LanguageDetector.create` (settle_rasa/language.py): config.yml's pipeline
instantiates it whenever a model is loaded, by `rasa run`, `rasa shell` and `rasa test`
alike. Other Rasa versions are left untouched (a warning says so): before widening
`SUPPORTED`, read the new `_validate_action_result` and check it still does only this.
See docs/performance.md.
"""

from __future__ import annotations

import logging
from typing import Any

import rasa
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

logger = logging.getLogger(__name__)

SUPPORTED = "3.6."
_APPLIED = "_settle_compiled_schema"


def compiled_action_result_check() -> Any:
    """Rasa's `_validate_action_result`, with the validator built and checked once."""
    spec = RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)  # here once, not in every call

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        error: ValidationError | None = best_match(validator_class(spec).iter_errors(result))
        if error is None:
            return True
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error

    setattr(_validate_action_result, _APPLIED, True)
    return _validate_action_result


def is_applied() -> bool:
    return getattr(RemoteAction._validate_action_result, _APPLIED, False)


def apply(version: str = rasa.__version__) -> bool:
    """Install the compiled check (once); False, with a warning, on an unsupported Rasa."""
    if is_applied():
        return True
    if not version.startswith(SUPPORTED):
        logger.warning(
            "Rasa %s is not %sx: custom action results keep Rasa's own schema check, "
            "which re-validates the schema on every call (settle_rasa/compat.py)",
            version,
            SUPPORTED,
        )
        return False
    RemoteAction._validate_action_result = compiled_action_result_check()
    logger.debug("Custom action results: schema compiled once (settle_rasa/compat.py)")
    return True
