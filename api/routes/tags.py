"""Tags: songs for a mix of tags."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import KDep, ResourcesDep
from api.errors import ApiError, ask
from api.schemas import MIX_PATTERN, ErrorBody, TagSearchResponse
from recsys.tags import parse_mix

router = APIRouter(prefix="/tags", tags=["tags"])


@router.get("/search", response_model=TagSearchResponse,
            responses={404: {"model": ErrorBody, "description": "A tag the served data does "
                             "not have (`unknown_tag`, with close tags in the message)."}})
async def search_by_tags(
    resources: ResourcesDep,
    k: KDep,
    mix: Annotated[str, Query(min_length=1, max_length=500, description="Tags and weights: "
                              "'rock:0.7,country:0.3' (or '70% rock, 30% country').",
                              pattern=MIX_PATTERN, examples=["rock:0.7,country:0.3"])],
) -> dict:
    """The songs nearest to a weighted mix of tag directions."""
    try:
        weights = parse_mix(mix)
    except ValueError as error:
        raise ApiError(422, "invalid_parameter", f"mix: {error}", field="mix") from None
    if not all(math.isfinite(w) for w in weights.values()) or not any(weights.values()):
        raise ApiError(422, "invalid_parameter", "mix: weights must be finite numbers, not "
                       "all zero", field="mix")
    results = ask(lambda: resources.songs.by_tags(weights, k), "unknown_tag", 404)
    return {"mix": weights, "results": results}
