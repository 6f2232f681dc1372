"""`ApiConfig`: what the API app needs from the process settings, passed in by the caller."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PLACEHOLDER_JWT_SECRET", "ApiConfig"]

PLACEHOLDER_JWT_SECRET = "change-me-local-only"


class ApiConfig(BaseModel):
    """API settings; mirrors `cluster.settings.ApiSettings` so `ApiConfig(**settings.api.model_dump())` works.

    Unknown keys are ignored (a field added to the settings later does not break the app).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", title="Bind address of the HTTP proxy")
    port: int = Field(8000, ge=1, le=65535, title="HTTP port")
    jwt_secret: str = Field(
        PLACEHOLDER_JWT_SECRET,
        min_length=16,
        title="JWT signing secret (HS256)",
        description="The placeholder is refused by `create_app` unless `environment` is 'local'.",
    )
    access_token_ttl_s: int = Field(900, ge=60, title="Access-token lifetime (s)")
    refresh_token_ttl_s: int = Field(7 * 24 * 3600, ge=300, title="Refresh-token lifetime (s)")
    rate_limit_per_user_per_min: int = Field(600, ge=1, title="Requests per user per minute before 429")
    rate_limit_per_ip_per_min: int = Field(1200, ge=1, title="Requests per client IP per minute before 429")
    login_attempts_per_ip_per_min: int = Field(20, ge=1, title="Login attempts per client IP per minute before 429")
    max_upload_mb: int = Field(2048, ge=1, title="Largest accepted upload (MiB); larger is refused with 413")
    metrics_token: str | None = Field(
        None, min_length=16, title="Static bearer token for scraping /metrics (Prometheus); user tokens work too"
    )
    replicas: int = Field(1, ge=1, title="Ingress replicas")
    num_cpus: float = Field(0.25, gt=0, title="CPUs per ingress replica")
    webui_dir: str = Field(
        "webui/dist",
        title="Built web UI served at /",
        description="Folder of the built web UI; a relative path is resolved against the repository root. "
        "A missing folder only means no UI.",
    )
    environment: str = Field(
        "local",
        title="Deployment environment",
        description="'local' only warns about the placeholder JWT secret; anything else refuses it.",
    )
    redis_key_prefix: str = Field(
        "witness:",
        min_length=1,
        title="Prefix of every Redis key the API writes",
        description="Rate-limit counters live under '<prefix>rl:', revoked access tokens under '<prefix>deny:'.",
    )
