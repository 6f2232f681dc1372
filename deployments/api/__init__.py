"""The REST API (FastAPI) under `/api/v1`: auth, users, events, jobs, audit; health and metrics."""

from deployments.api.config import PLACEHOLDER_JWT_SECRET, ApiConfig
from deployments.api.main import create_app
from deployments.api.metrics import ApiMetrics
from deployments.api.permissions import Permission
from deployments.api.tags import Tags

__all__ = ["PLACEHOLDER_JWT_SECRET", "ApiConfig", "ApiMetrics", "Permission", "Tags", "create_app"]
