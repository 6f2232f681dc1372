"""Camera-source policy, URL redaction and the site file's YAML limits (pure: no network, no files)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import pytest

from domain.site import SiteConfigError, parse_site_yaml
from domain.site.sources import DEFAULT_ALLOWED_HOSTS, DEFAULT_MEDIA_ROOTS, SourceNotAllowedError, SourcePolicy, redact_url

DEFAULT = SourcePolicy.of(allowed_hosts=DEFAULT_ALLOWED_HOSTS, media_roots=[*DEFAULT_MEDIA_ROOTS, "/data/media"])
ANY_HOST = SourcePolicy.of(allowed_hosts=["*"], media_roots=["/data/media"])
REFUSED = pytest.raises(SourceNotAllowedError)


@pytest.mark.parametrize(
    ("policy", "uri", "expectation"),
    [
        (DEFAULT, "rtsp://192.168.1.20:554/live", DoesNotRaise()),  # a private camera
        (DEFAULT, "rtsp://user:pw@10.2.3.4/h264", DoesNotRaise()),  # credentials do not matter
        (DEFAULT, "http://cam-3.local/mjpg", DoesNotRaise()),  # a LAN name
        (DEFAULT, "rtsp://localhost:8554/test", DoesNotRaise()),  # loopback by name
        (DEFAULT, "rtsp://[::1]:8554/test", DoesNotRaise()),  # IPv6 loopback
        (DEFAULT, "/usr/share/doc/opencv-doc/examples/data/vtest.avi", DoesNotRaise()),  # the sample footage
        (DEFAULT, "file:///data/media/door.mp4", DoesNotRaise()),  # under DATA_DIR/media
        (DEFAULT, "rtsp://8.8.8.8/live", REFUSED),  # public address, not allowed by default
        (DEFAULT, "https://cams.example.com/x.m3u8", REFUSED),  # a name not allowed
        (DEFAULT, "http://169.254.169.254/latest/meta-data/", REFUSED),  # metadata: always refused
        (ANY_HOST, "http://169.254.169.254/latest/meta-data/", REFUSED),  # ... even with "*"
        (ANY_HOST, "http://[::ffff:a9fe:a9fe]/", REFUSED),  # IPv4-mapped metadata
        (ANY_HOST, "http://[fd00:ec2::254]/", REFUSED),  # AWS IPv6 metadata
        (ANY_HOST, "http://metadata.google.internal/", REFUSED),  # metadata by name
        (ANY_HOST, "http://METADATA.google.internal./", REFUSED),  # case and a trailing dot
        (ANY_HOST, "http://2852039166/", REFUSED),  # 169.254.169.254 as one number
        (ANY_HOST, "http://0xa9fea9fe/", REFUSED),  # ... in hex
        (ANY_HOST, "http://0251.0376.0251.0376/", REFUSED),  # ... in octal
        (ANY_HOST, "rtsp://0.0.0.0/", REFUSED),  # unspecified
        (ANY_HOST, "rtsp://[fe80::1%25eth0]/", REFUSED),  # IPv6 link-local with a zone
        (ANY_HOST, "rtsp://cams.example.com/live", DoesNotRaise()),  # "*" allows other hosts
        (DEFAULT, "http:///nohost", REFUSED),  # no host
        (DEFAULT, "/etc/passwd", REFUSED),  # a server file
        (DEFAULT, "/data/media/../secrets/key.pem", REFUSED),  # `..` out of the root
        (DEFAULT, "/data/media-other/x.mp4", REFUSED),  # a sibling folder sharing the prefix
        (DEFAULT, "videos/door.mp4", REFUSED),  # relative
        (DEFAULT, "ftp://10.0.0.1/x", REFUSED),  # another scheme
        (SourcePolicy(), "rtsp://10.0.0.1/x", REFUSED),  # empty policy: nothing
        (SourcePolicy(), "", REFUSED),  # empty input
    ],
)
def test_source_policy(policy: SourcePolicy, uri: str, expectation) -> None:
    with expectation:
        policy.check(uri)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),  # nothing
        ("", ""),  # empty
        ("/videos/a.mp4", "/videos/a.mp4"),  # a path has nothing to hide
        ("rtsp://10.0.0.7/live", "rtsp://10.0.0.7/live"),  # no secret
        ("rtsp://admin:hunter2@10.0.0.7:554/live", "rtsp://admin:***@10.0.0.7:554/live"),  # password
        ("rtsp://admin@10.0.0.7/live", "rtsp://admin@10.0.0.7/live"),  # a user alone is kept
        ("https://hooks.example.com/x?token=abc&team=ops", "https://hooks.example.com/x?token=***&team=ops"),
        ("https://h.example.com/x?X-Amz-Signature=abc&api_key=k", "https://h.example.com/x?X-Amz-Signature=***&api_key=***"),
        ("https://u:p@a:b@h.example.com/", "https://u:***@h.example.com/"),  # '@' inside the password
    ],
)
def test_redact_url(url: str | None, expected: str | None) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site: {name: demo}\nx: &a [1]\ny: *a\n", "aliases"),  # an alias
        ("site: {name: demo}\nbase: &b {fps: 5}\ncameras:\n  c: {<<: *b}\n", "aliases"),  # a merge key is an alias
        ("site: {name: demo}\nlist: [" + ", ".join(["1"] * 60_000) + "]\n", "more than 50000 YAML nodes"),  # too big
    ],
)
def test_site_yaml_limits(text: str, message: str) -> None:
    with pytest.raises(SiteConfigError, match=message):
        parse_site_yaml(text, source="site.yaml")
