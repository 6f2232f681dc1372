"""The API's routers, one per resource."""

from deployments.api.routes import audit, auth, events, health, jobs, users

__all__ = ["audit", "auth", "events", "health", "jobs", "users"]
