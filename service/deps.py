"""Dependencies shared by the routes: the app's registry and metrics, and the admin check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.metrics import ServiceMetrics
from service.registry import ModelRegistry

__all__ = ["MetricsDep", "RegistryDep", "require_admin"]

_DISABLED = "the admin API is disabled: start the service with CTR_ADMIN_TOKEN set to enable it"
_bearer = HTTPBearer(auto_error=False, description="The service's CTR_ADMIN_TOKEN.")


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Lets a request through with ``Authorization: Bearer <CTR_ADMIN_TOKEN>`` (compared in constant time);
    403 when no token is configured, 401 without the right one."""
    secret = request.app.state.settings.admin_token
    token = secret.get_secret_value().encode() if secret else b""
    if not token:
        raise HTTPException(403, _DISABLED)
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            401, "admin routes need the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="ctrkit admin"'},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), token):
        raise HTTPException(
            401, "invalid admin token",
            headers={"WWW-Authenticate": 'Bearer realm="ctrkit admin", error="invalid_token"'},
        )
