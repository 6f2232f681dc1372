"""Camera-source policy (which hosts and files a camera may read) and redaction of secrets in URLs.

A camera source is fetched by the platform itself, so an API user who may edit cameras could point
one at an internal service (server-side request forgery) or at any file the workers can read. The
policy admits:

- `rtsp://`, `http(s)://` hosts that match `allowed_hosts`: an IP address inside one of its CIDRs,
  a host name equal to one of its names or matching a `*.suffix` entry, or anything with `*`;
- never a link-local address (`169.254.0.0/16`, `fe80::/10`, cloud metadata endpoints at
  `169.254.169.254`, `fd00:ec2::254`), an unspecified address (`0.0.0.0`, `::`), multicast, or a
  metadata host name (`metadata.google.internal`, ...), whatever `allowed_hosts` says;
- file sources (`/path`, `file://`) under one of `media_roots` only (the caller resolves symbolic
  links first; the check here is on the normalised text).

Pure: no DNS and no file-system access (the API resolves paths before asking).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlunparse

__all__ = ["SourcePolicy", "SourceNotAllowedError", "redact_url", "ALWAYS_REFUSED_NETWORKS", "DEFAULT_ALLOWED_HOSTS",
           "DEFAULT_MEDIA_ROOTS"]

# Where store cameras live: loopback, the private networks and LAN names; `CAMERA__ALLOWED_HOSTS` replaces it.
DEFAULT_ALLOWED_HOSTS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
                         "localhost", "*.local", "*.lan")  # fmt: skip
# The sample footage the demo plays (Debian's opencv-doc); the platform adds DATA_DIR/media.
DEFAULT_MEDIA_ROOTS = ("/usr/share/doc/opencv-doc/examples/data",)

ALWAYS_REFUSED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",  # IPv4 link-local, the AWS / GCP / Azure metadata endpoint 169.254.169.254 among them
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS IPv6 metadata endpoint
    "100.100.100.200/32",  # Alibaba Cloud metadata endpoint
    "0.0.0.0/8", "::/128",  # unspecified ("this host")
    "224.0.0.0/4", "ff00::/8",  # multicast
))  # fmt: skip
_REFUSED_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal"})  # fmt: skip
_NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
_SECRET_PARAM = re.compile(r"(pass|pwd|secret|token|key|auth|sig|credential)", re.IGNORECASE)
_MASK = "***"
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")


class SourceNotAllowedError(ValueError):
    """A camera source outside the policy (the message says why and what is allowed)."""


def redact_url(url: str | None) -> str | None:
    """`url` with its password and secret-looking query values replaced by `***`.

    Args:
        url: a URL or a plain path (returned unchanged); `None` stays `None`.

    Returns:
        The redacted text, e.g. `rtsp://admin:***@10.0.0.7/live?token=***&ch=1`.

    Example:
        >>> redact_url("rtsp://admin:hunter2@10.0.0.7/live?token=abc&ch=1")
        'rtsp://admin:***@10.0.0.7/live?token=***&ch=1'
    """
    if url is None or "://" not in url:
        return url
    try:
        parts = urlparse(url)
        password = parts.password
    except ValueError:  # a malformed port or host: keep nothing after the scheme's authority
        return url.split("://", 1)[0] + "://" + _MASK
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{_MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(k) for k, _ in pairs):
            query = urlencode([(k, _MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunparse(parts._replace(netloc=netloc, query=query))


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class SourcePolicy:
    """Which camera sources are allowed.

    Attributes:
        allowed_hosts: host names, `*.suffix` patterns, IP addresses or CIDRs; `*` allows any host
            (still never the always-refused networks).
        media_roots: folders (absolute, normalised) file sources must lie under.
    """

    allowed_hosts: tuple[str, ...] = ()
    media_roots: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, allowed_hosts: Iterable[str] = (), media_roots: Iterable[str] = ()) -> SourcePolicy:
        """A policy with host entries lower-cased and roots normalised (relative roots are dropped)."""
        roots = tuple(dict.fromkeys(posixpath.normpath(r) for r in media_roots if str(r).startswith("/")))
        return cls(allowed_hosts=tuple(h.strip().lower() for h in allowed_hosts if h.strip()), media_roots=roots)

    def _host_allowed(self, host: str) -> bool:
        if "*" in self.allowed_hosts:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.allowed_hosts)
        return any((net := _network(h)) is not None and address.version == net.version and address in net
                   for h in self.allowed_hosts)  # fmt: skip

    def check_host(self, host: str) -> None:
        """Refuse a host outside the policy.

        Raises:
            SourceNotAllowedError: always-refused (link-local, metadata, unspecified, multicast) or
                not matched by `allowed_hosts`.
        """
        host = host.strip("[]").lower().rstrip(".")
        if host == "localhost":
            host = "127.0.0.1"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and getattr(address, "ipv4_mapped", None) is not None:
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
            host = str(address)
        if address is None and _NUMERIC_HOST.fullmatch(host):  # 2852039166, 0xa9fea9fe, 0251.0376.0251.0376 ...
            raise SourceNotAllowedError(f"camera host {host!r} is an ambiguous numeric address; write it dotted")
        if host in _REFUSED_NAMES or (address is not None and any(
                address.version == n.version and address in n for n in ALWAYS_REFUSED_NETWORKS)):  # fmt: skip
            raise SourceNotAllowedError(f"camera host {host!r} is link-local, a cloud metadata service or not "
                                        "routable: never allowed")  # fmt: skip
        if not self._host_allowed(host):
            raise SourceNotAllowedError(f"camera host {host!r} is not allowed; allowed (CAMERA__ALLOWED_HOSTS): "
                                        f"{', '.join(self.allowed_hosts) or '(none)'}")  # fmt: skip

    def check_file(self, path: str) -> None:
        """Refuse a file source outside `media_roots` (pass the path with symbolic links resolved).

        Raises:
            SourceNotAllowedError: not absolute, or not under a media root.
        """
        if "\x00" in path or not path.startswith("/"):
            raise SourceNotAllowedError(f"file source {path!r} must be an absolute path under a media root")
        normal = posixpath.normpath(path)
        if not any(normal == r or normal.startswith(r.rstrip("/") + "/") for r in self.media_roots):
            raise SourceNotAllowedError(f"file source {path!r} is not under a media folder; allowed "
                                        f"(CAMERA__MEDIA_ROOT): {', '.join(self.media_roots) or '(none)'}")  # fmt: skip

    def check(self, uri: str) -> None:
        """Refuse a camera source outside the policy.

        Args:
            uri: `rtsp://…`, `http(s)://…`, `file://…` or an absolute path (symbolic links already resolved).

        Raises:
            SourceNotAllowedError: see `check_host` and `check_file`; also a network URL without a host.
        """
        parts = urlparse(uri)
        scheme = parts.scheme.lower()
        if scheme in _NETWORK_SCHEMES:
            try:
                host = parts.hostname
            except ValueError:
                host = None
            if not host:
                raise SourceNotAllowedError(f"camera source {redact_url(uri)!r} names no host")
            self.check_host(host)
        elif scheme == "file":
            self.check_file(unquote(parts.path))
        elif scheme == "":
            self.check_file(uri)
        else:
            raise SourceNotAllowedError(f"unsupported camera source scheme {scheme!r}")
