"""`ApiConfig`: what the API app needs from the process settings, passed in by the caller."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PLACEHOLDER_JWT_SECRET", "ApiConfig"]

# The secret older releases shipped as the default: public, so a token signed with it is forgeable.
# `create_app` refuses it (and any secret shorter than 32 characters) unless `allow_insecure_secret`.
PLACEHOLDER_JWT_SECRET = "change-me-local-only"


class ApiConfig(BaseModel):
    """API settings; mirrors `cluster.settings.ApiSettings` so `ApiConfig(**settings.api.model_dump())` works.

    Unknown keys are ignored (a field added to the settings later does not break the app).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", title="Bind address of the HTTP proxy")
    port: int = Field(8000, ge=1, le=65535, title="HTTP port")
    jwt_secret: str = Field(
        "",
        title="JWT signing secret (HS256)",
        description="Required: at least 32 characters, not the old placeholder (`witness up` generates one "
        "and keeps it in DATA_DIR/jwt-secret).",
    )
    allow_insecure_secret: bool = Field(
        False, title="Accept a short or placeholder JWT secret (tests that ask for it only)")
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
    environment: str = Field("local", title="Deployment environment (informative)")
    redis_key_prefix: str = Field(
        "witness:",
        min_length=1,
        title="Prefix of every Redis key the API writes",
        description="Rate-limit counters live under '<prefix>rl:', revoked access tokens under '<prefix>deny:'.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        title="Trusted proxies",
        description="Addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed; empty: the "
        "socket peer is the client.",
    )
    max_body_kb: int = Field(256, ge=1, title="Largest request body (KiB) except uploads and imports; 413 beyond")
    max_site_file_kb: int = Field(1024, ge=1, title="Largest site-file import body (KiB)")
    max_import_mb: int = Field(16, ge=1, title="Largest POS-file import (MiB)")
    max_form_parts: int = Field(16, ge=2, title="Most parts of one multipart body")
    max_concurrent_password_checks: int = Field(
        4, ge=1, title="Concurrent argon2 verifications (logins) per replica; more wait, then 503")
    password_check_wait_s: float = Field(5.0, gt=0, title="Longest wait for a password-check slot before 503 (s)")
    login_lockout_after: int = Field(5, ge=1, title="Failed logins of one username before it is locked")
    login_lockout_s: float = Field(
        30.0, gt=0, title="First lock-out (s); doubled for each further failure",
        description="Longer slows password guessing more but locks a mistyping user out longer.")
    login_lockout_max_s: float = Field(900.0, gt=0, title="Longest lock-out (s)")
    audit_anonymous_per_ip_per_min: int = Field(
        60, ge=1, title="Audit rows per client IP per minute for requests without a valid token",
        description="Beyond it such requests are counted in a metric instead of written, so a flood cannot "
        "grow the audit table without bound.")
