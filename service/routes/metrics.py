"""Prometheus metrics: this process's, or every worker's when several share the port."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.deps import MetricsDep
from service.metrics import CONTENT_TYPE_LATEST, merge_expositions

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics (every worker's, labelled worker=\"<i>\", with --workers)",
            tags=["health"], responses={200: {"description": "The Prometheus text exposition.",
                                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def prometheus(request: Request, metrics: MetricsDep) -> Response:
    own = metrics.exposition()
    worker = request.app.state.worker
    if worker is None:
        return Response(own, media_type=CONTENT_TYPE_LATEST)
    parts = {worker.index: own, **await worker.gather("metrics")}
    return Response(merge_expositions(parts), media_type=CONTENT_TYPE_LATEST)
