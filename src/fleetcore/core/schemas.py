"""Request/response building blocks every domain's schemas share: money in the API.

Money crosses the API as ``{"amount": "12.50", "currency": "EUR"}`` (money.md): the amount is a
decimal string, never a JSON number, so no client rounds it through a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from fleetcore.core.money import Money, validate_currency

__all__ = ["Currency", "Deletion", "MoneyIn", "MoneyOut", "Reason", "SignedMoneyIn",
           "from_row", "model_response", "money_out"]

M = TypeVar("M", bound=BaseModel)

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
"""Why something was decided (a deletion, a refusal): kept on the row, shown in its history."""


class Deletion(BaseModel):
    """Why a row is deleted (kept on the row; it stays restorable). The body is optional;
    when sent it must give the reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "Created twice by mistake."}]})

    reason: Reason


Currency = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3),
    AfterValidator(validate_currency),
    Field(description="ISO 4217 currency code.", examples=["EUR"]),
]


class MoneyIn(BaseModel):
    """An amount ≥ 0 as a decimal string (at most 4 decimals) with its currency."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"amount": "250.00", "currency": "EUR"}]})

    amount: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,14}(\.[0-9]{1,4})?$")] = Field(
        description="Non-negative decimal string, at most 4 decimals.", examples=["250.00"])
    currency: Currency

    def to_money(self) -> Money:
        """The value as :class:`~fleetcore.core.money.Money`."""
        return Money.from_api({"amount": self.amount, "currency": self.currency})


class SignedMoneyIn(MoneyIn):
    """An amount that may be negative (adjustments, corrections)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"amount": "-12.50", "currency": "EUR"}]})

    amount: Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,14}(\.[0-9]{1,4})?$")] = Field(
        description="Decimal string, may be negative, at most 4 decimals.", examples=["-12.50"])


class MoneyOut(BaseModel):
    """An amount as stored (signed where the field says so) and its currency."""

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"amount": "250.00", "currency": "EUR"}]})

    amount: str = Field(examples=["250.00"])
    currency: str = Field(examples=["EUR"])


def money_out(amount: Decimal | None, currency: str | None) -> MoneyOut | None:
    """The API form of an amount column and its currency (None when there is no amount)."""
    if amount is None or currency is None:
        return None
    return MoneyOut(**Money(amount, currency).to_api())


def from_row(model: type[M], row: Any, **overrides: Any) -> M:
    """``model`` from the attributes of ``row`` of the same names, with ``overrides`` for the
    fields the row does not hold as such (money as :func:`money_out`, a joined value…)."""
    data = {name: getattr(row, name) for name in model.model_fields
            if name not in overrides and hasattr(row, name)}
    data.update(overrides)
    return model.model_validate(data)


def model_response(
    content: BaseModel, headers: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    """``content`` as the JSON response FastAPI would make of it (the same bytes), for a sync
    route that declares ``response_model=type(content)`` (and its ``status_code``).

    A sync route returning the model itself has FastAPI validate it again, in a trip to a worker
    thread of its own, before serialising it; a route that built ``content`` from its own
    query's rows has nothing to re-check (decision 0009). The route's documented response model
    stays the one it declares.
    """
    return Response(content.model_dump_json(by_alias=True), status_code=status_code,
                    media_type="application/json", headers=headers)
