"""connexion's request validation, with messages a client developer can act on: connexion reports a bad
parameter as the whole jsonschema error (schema dump included); we name the parameter in one line."""

from __future__ import annotations

from typing import Any

from connexion.validators import VALIDATOR_MAP
from connexion.validators.parameter import ParameterValidator


class TwinParameterValidator(ParameterValidator):  # type: ignore[misc]
    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None) -> Any:
        message = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if message and not message.startswith("Missing"):
            return f"Invalid {parameter_type} parameter '{param['name']}': {message.splitlines()[0]}"
        return message


def validator_map() -> dict[str, Any]:
    return {**VALIDATOR_MAP, "parameter": TwinParameterValidator}
