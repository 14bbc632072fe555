"""Response bodies of the OpenAI Usage and Costs APIs (``GET /v1/organization/usage/...``, ``GET
/v1/organization/costs``), as OpenAI's OpenAPI spec (github.com/openai/openai-openapi, ``UsageResponse``,
``UsageTimeBucket`` and the ``Usage*Result`` / ``CostsResult`` schemas) has them, so that tools built for
OpenAI's billing data read a verticals customer's own.

A page holds time buckets; each bucket holds one result per group (one in all without ``group_by``, none
for a bucket without usage). A customer has no projects, users, batches or service tiers: grouped by one
of those, the result carries null (``batch``: false, nothing is a batch job).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, PlainSerializer

from verticals.ledger.customer_usage import UsageRow

# OpenAI's schemas say number: an exact Decimal in Python, a JSON number on the wire (a 9-place amount
# below $1M has at most 15 significant digits, which a double's shortest form writes back exactly).
JsonNumber = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]

# The ledger's units as OpenAI's ``quantity_unit`` (CostsResult; a free string where none applies).
QUANTITY_UNITS = {"tokens": "tokens", "images": "images", "audio-seconds": "duration_seconds"}


@dataclass(frozen=True)
class Grouping:
    """The ``group_by`` fields of a query; a field not grouped by is null in every result."""

    fields: frozenset[str]

    def of(self, field: str, value: str | None) -> str | None:
        """``value`` when the query groups by ``field``, else None."""
        return value if field in self.fields else None

    def batch(self) -> bool | None:
        """False when grouped by batch (the gateway has no batch jobs), else None."""
        return False if "batch" in self.fields else None


def _count(value: Decimal) -> int:
    # OpenAI's counts are integers: audio seconds are summed exactly, then rounded once, half to even.
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


class UsageResult(BaseModel):
    """A result of one bucket and group; each endpoint's subclass builds itself from a ledger row."""

    @classmethod
    def of(cls, row: UsageRow, grouping: Grouping) -> UsageResult:
        """The result for ``row`` (see ``verticals.ledger.customer_usage.UsageRow``) under ``grouping``."""
        raise NotImplementedError


class CompletionsResult(UsageResult):
    """UsageCompletionsResult: tokens in and out of chat and completion models, and requests answered.

    The gateway keeps no prompt cache accounting and serves text only: the cached, audio counts are 0.
    """

    object: Literal["organization.usage.completions.result"] = "organization.usage.completions.result"
    input_tokens: int
    input_cached_tokens: int = 0
    input_audio_tokens: int = 0
    output_tokens: int
    output_audio_tokens: int = 0
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None

    @classmethod
    def of(cls, row: UsageRow, grouping: Grouping) -> CompletionsResult:
        """Tokens in and out of ``row``."""
        return cls(
            input_tokens=_count(row.units_in),
            output_tokens=_count(row.units_out),
            num_model_requests=row.requests,
            api_key_id=grouping.of("api_key_id", row.key_prefix),
            model=grouping.of("model", row.model),
            batch=grouping.batch(),
        )


class EmbeddingsResult(UsageResult):
    """UsageEmbeddingsResult: tokens read by embedding models, and requests answered."""

    object: Literal["organization.usage.embeddings.result"] = "organization.usage.embeddings.result"
    input_tokens: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None

    @classmethod
    def of(cls, row: UsageRow, grouping: Grouping) -> EmbeddingsResult:
        """Tokens read in ``row``."""
        return cls(
            input_tokens=_count(row.units_in),
            num_model_requests=row.requests,
            api_key_id=grouping.of("api_key_id", row.key_prefix),
            model=grouping.of("model", row.model),
        )


class AudioTranscriptionsResult(UsageResult):
    """UsageAudioTranscriptionsResult: ``seconds`` of audio transcribed (summed, rounded to the nearest
    second), and requests answered.
    """

    object: Literal["organization.usage.audio_transcriptions.result"] = (
        "organization.usage.audio_transcriptions.result"
    )
    seconds: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None

    @classmethod
    def of(cls, row: UsageRow, grouping: Grouping) -> AudioTranscriptionsResult:
        """Audio seconds in ``row``."""
        return cls(
            seconds=_count(row.units_in),
            num_model_requests=row.requests,
            api_key_id=grouping.of("api_key_id", row.key_prefix),
            model=grouping.of("model", row.model),
        )


class ImagesResult(UsageResult):
    """UsageImagesResult: ``images`` the image models read, and requests answered. The gateway's image
    models classify, so ``source`` and ``size`` are null.
    """

    object: Literal["organization.usage.images.result"] = "organization.usage.images.result"
    images: int
    num_model_requests: int
    source: str | None = None
    size: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None

    @classmethod
    def of(cls, row: UsageRow, grouping: Grouping) -> ImagesResult:
        """Images in ``row``."""
        return cls(
            images=_count(row.units_in),
            num_model_requests=row.requests,
            api_key_id=grouping.of("api_key_id", row.key_prefix),
            model=grouping.of("model", row.model),
        )


class CostAmount(BaseModel):
    """CostsResult.amount: ``value`` in ``currency`` (lowercase ISO-4217, always usd)."""

    value: JsonNumber
    currency: Literal["usd"] = "usd"


class CostsResult(UsageResult):
    """CostsResult: what the customer was charged for usage, the billed revenue of its answered requests
    (the price in force times the billable units, exact to 9 places), before the plan's fee, allowances,
    tiers and credits, which its invoices apply. ``line_item`` is the model; ``quantity`` its billable
    units (tokens in plus out, images, audio seconds, rows, calls) and ``quantity_unit`` their unit, both
    only when grouped by line_item.
    """

    object: Literal["organization.costs.result"] = "organization.costs.result"
    amount: CostAmount
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: JsonNumber | None = None
    quantity_unit: str | None = None

    @classmethod
    def of(cls, row: UsageRow, grouping: Grouping) -> CostsResult:
        """The charges of ``row``."""
        by_line = "line_item" in grouping.fields
        unit = row.unit if by_line else None
        return cls(
            amount=CostAmount(value=row.charged_usd),
            line_item=grouping.of("line_item", row.model),
            api_key_id=grouping.of("api_key_id", row.key_prefix),
            quantity=row.units if by_line else None,
            quantity_unit=None if unit is None else QUANTITY_UNITS.get(unit, unit),
        )


ResultT = TypeVar("ResultT", bound=UsageResult)


class UsageBucket(BaseModel, Generic[ResultT]):
    """UsageTimeBucket: ``start_time`` inclusive, ``end_time`` exclusive, in Unix seconds (UTC)."""

    object: Literal["bucket"] = "bucket"
    start_time: int
    end_time: int
    results: list[ResultT]


class UsagePage(BaseModel, Generic[ResultT]):
    """UsageResponse: up to ``limit`` buckets; ``has_more`` and ``next_page`` (the ``page`` cursor of the
    next buckets, null on the last page).
    """

    object: Literal["page"] = "page"
    data: list[UsageBucket[ResultT]]
    has_more: bool
    next_page: str | None
