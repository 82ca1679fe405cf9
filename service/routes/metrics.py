"""Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.deps import MetricsDep
from service.metrics import CONTENT_TYPE_LATEST

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics", tags=["health"])
async def prometheus(metrics: MetricsDep) -> Response:
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
