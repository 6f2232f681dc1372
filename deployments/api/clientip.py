"""The client's IP address, believing `X-Forwarded-For` only from configured proxies.

Rate limits, login lock-outs and the audit trail key on the client IP. A client that talks to the
API directly can write any `X-Forwarded-For` it likes, so the header is read only when the socket
peer is one of `API__TRUSTED_PROXIES` (addresses or CIDRs, empty by default). Then the header is
walked from the right (the hop the trusted proxy appended) past every trusted proxy; the first
address that is not one is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedProxies", "ClientIpMiddleware", "client_ip"]

_STATE_KEY = "witness_client_ip"
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose `X-Forwarded-For` is believed."""

    networks: tuple[_Network, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        """From addresses or CIDRs, e.g. `["10.0.0.0/8", "127.0.0.1"]`.

        Raises:
            ValueError: an entry is neither (the message names it).
        """
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"API__TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR") from None
        return cls(tuple(networks))

    def trusts(self, address: str | None) -> bool:
        """Whether `address` is a trusted proxy."""
        ip = _address(address) if address else None
        return ip is not None and any(ip.version == n.version and ip in n for n in self.networks)

    def resolve(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The client IP of a request from `peer` with these `X-Forwarded-For` values (in header order)."""
        if not self.networks or not self.trusts(peer):
            return peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            if _address(hop) is None:  # garbage where an address should be: believe only the socket
                return peer
            if not self.trusts(hop):
                return hop[:64]
        return hops[0][:64] if hops else peer


class ClientIpMiddleware:
    """ASGI middleware computing the client IP once per request (read it with `client_ip(scope)`)."""

    def __init__(self, app: ASGIApp, *, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
            scope.setdefault("state", {})[_STATE_KEY] = self.proxies.resolve(peer[0] if peer else None, forwarded)
        await self.app(scope, receive, send)


def client_ip(scope: Scope) -> str | None:
    """The request's client IP (as `ClientIpMiddleware` found it; the socket peer without it)."""
    state = scope.get("state") or {}
    if _STATE_KEY in state:
        return state[_STATE_KEY]
    client = scope.get("client")
    return client[0] if client else None
