"""Hardening of the API: forged tokens, client IPs and lock-outs, body caps, untrusted YAML, secrets in
responses, camera-source SSRF, session revocation, headers and the small ones. Real PostgreSQL and Redis;
every app is built by `create_app` (or the code path `witness up` uses)."""

from __future__ import annotations

import stat
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect

from cluster.settings import Settings
from deployments.api import PLACEHOLDER_JWT_SECRET, ApiConfig, create_app
from deployments.api.hub import Hub
from deployments.api.routes import cameras, notifications, pos, sites, ws
from deployments.api.security import TokenType, create_token
from storage import crud
from storage import notifications as notify_repo
from storage.models import CameraCreate, SiteCreate, UserRole, UserUpdate
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import PASSWORD, bearer, create_random_user, login, make_config
from tests.deployments.test_ws import REDIS_URL

API = "/api/v1"
REPO = Path(__file__).resolve().parents[2]


def forged_admin_token(secret: str, user_id: str) -> str:
    """An admin access token signed by hand, as an attacker who read the source would."""
    now = datetime.now(timezone.utc)
    claims = {"sub": user_id, "role": "admin", "jti": uuid.uuid4().hex, "type": "access", "iat": now,
              "exp": now + timedelta(minutes=10), "ver": 0}  # fmt: skip
    return jwt.encode(claims, secret, algorithm="HS256")


# ------------------------------------------------------------------------------ 1. forged tokens
def test_platform_started_as_the_readme_says_refuses_the_placeholder_token(tmp_path: Path, pg_engine: Engine,
                                                                          redis_client, key_prefix: str) -> None:  # fmt: skip
    from cluster.live import app_args

    settings = Settings(_env_file=None, data_dir=tmp_path)  # nothing set, as `./scripts/demo.sh` runs `witness up`
    args = app_args(settings)
    secret_file = tmp_path / "jwt-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert args.api["jwt_secret"] == secret_file.read_text().strip() != PLACEHOLDER_JWT_SECRET
    assert len(args.api["jwt_secret"]) >= 32
    assert app_args(settings).api["jwt_secret"] == args.api["jwt_secret"]  # kept across restarts
    config = ApiConfig(**(args.api | {"redis_key_prefix": key_prefix}))
    app = create_app(engine=pg_engine, redis=redis_client, config=config)
    admin = create_random_user(pg_engine, UserRole.ADMIN)
    with TestClient(app) as client:
        forged = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {forged_admin_token(PLACEHOLDER_JWT_SECRET, admin.id)}"})
        assert forged.status_code == 401
        assert client.get(f"{API}/auth/me", headers=bearer(login(client, admin.username))).status_code == 200


def test_up_refuses_a_placeholder_or_short_secret_given_by_the_operator(tmp_path: Path) -> None:
    from cluster.live import jwt_secret
    from cluster.services import ServiceError

    for secret in (PLACEHOLDER_JWT_SECRET, "x" * 20):
        with pytest.raises(ServiceError, match="API__JWT_SECRET"):
            jwt_secret(Settings(_env_file=None, data_dir=tmp_path, api={"jwt_secret": secret}))
    assert jwt_secret(Settings(_env_file=None, data_dir=tmp_path, api={"jwt_secret": "k" * 40})) == "k" * 40


# ------------------------------------------------------------------------ 3. client IP and lock-out
def test_a_forged_forwarded_for_does_not_escape_the_login_limit(pg_engine, redis_client, key_prefix) -> None:
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, login_attempts_per_ip_per_min=3))
    with TestClient(app) as client:
        codes = [client.post(f"{API}/auth/login", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                             json={"username": f"nobody-{i}", "password": "wrong-pass"}).status_code for i in range(5)]  # fmt: skip
    assert codes == [401, 401, 401, 429, 429]  # one client, whatever the header says


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(pg_engine, redis_client, key_prefix) -> None:
    config = make_config(key_prefix, login_attempts_per_ip_per_min=1, trusted_proxies=["10.0.0.0/8"])
    app = create_app(engine=pg_engine, redis=redis_client, config=config)
    body = {"username": "nobody-x", "password": "wrong-pass"}
    with TestClient(app, client=("10.1.2.3", 40000)) as proxy:
        # the proxy appends the real client; a client-supplied hop to the left is not taken
        codes = [proxy.post(f"{API}/auth/login", json=body,
                            headers={"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.{i}, 10.9.9.9"}).status_code
                 for i in range(3)]  # fmt: skip
    assert codes == [401, 401, 401]  # three clients (192.0.2.0-2), one attempt each
    with Session(pg_engine) as s:
        rows, _ = crud.list_audit(s, action="auth.login", limit=3)
    assert {r.client_ip for r in rows} == {"192.0.2.0", "192.0.2.1", "192.0.2.2"}


def test_failed_logins_lock_the_username_with_back_off(pg_engine, redis_client, key_prefix) -> None:
    config = make_config(key_prefix, login_lockout_after=3, login_lockout_s=1.0, login_lockout_max_s=30.0)
    app = create_app(engine=pg_engine, redis=redis_client, config=config)
    user, other = create_random_user(pg_engine, UserRole.VIEWER), create_random_user(pg_engine, UserRole.VIEWER)

    def attempt(name: str, password: str = "wrong-pass"):
        return client.post(f"{API}/auth/login", json={"username": name, "password": password})

    with TestClient(app) as client:
        assert [attempt(user.username).status_code for _ in range(3)] == [401, 401, 401]  # the 3rd locks 1 s
        locked = attempt(user.username, PASSWORD)
        assert locked.status_code == 429 and locked.headers["retry-after"] == "1"  # even the right password
        assert attempt(other.username, PASSWORD).status_code == 200  # other users are not affected
        time.sleep(1.1)
        assert attempt(user.username).status_code == 401  # 4th failure: locked twice as long
        assert attempt(user.username, PASSWORD).headers["retry-after"] == "2"
        time.sleep(2.1)
        assert attempt(user.username, PASSWORD).status_code == 200  # and a success forgets the count
        assert attempt(user.username).status_code == 401
        assert attempt(user.username, PASSWORD).status_code == 200


def test_password_checks_are_bounded(pg_engine, redis_client, key_prefix) -> None:
    app = create_app(engine=pg_engine, redis=redis_client,
                     config=make_config(key_prefix, max_concurrent_password_checks=1, password_check_wait_s=0.2))
    user = create_random_user(pg_engine, UserRole.VIEWER)
    with TestClient(app) as client:
        app.state.password_checks.acquire()  # another login is verifying a password right now
        try:
            busy = client.post(f"{API}/auth/login", json={"username": user.username, "password": PASSWORD})
        finally:
            app.state.password_checks.release()
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert client.post(f"{API}/auth/login", json={"username": user.username, "password": PASSWORD}).status_code == 200


# ------------------------------------------------------------------------------------ 4. body caps
def test_bodies_are_capped_before_authentication(client: TestClient) -> None:
    big = b'{"username": "' + b"x" * 300_000 + b'", "password": "p"}'
    declared = client.post(f"{API}/auth/login", content=big, headers={"Content-Type": "application/json"})
    assert (declared.status_code, declared.json()) == (413, {"detail": "request body too large (limit 256 KiB)"})

    def chunks():  # no Content-Length: counted while read
        for _ in range(40):
            yield b"x" * 10_000

    streamed = client.post(f"{API}/auth/refresh", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    unauth = client.post(f"{API}/events", content=big, headers={"Content-Type": "application/json"})
    assert unauth.status_code == 413  # refused before the 401: nothing was read


def test_multipart_part_count_is_capped(site_client: TestClient, admin_headers: dict) -> None:
    files = [("file", ("pos.json", b"{}", "application/json"))] + [(f"f{i}", (None, "x")) for i in range(20)]
    response = site_client.post(f"{API}/pos/transactions/import", headers=admin_headers, files=files)
    assert response.status_code == 400 and "more than 16 form parts" in response.json()["detail"]


# ------------------------------------------------------------------------------- 6. untrusted YAML
@pytest.fixture(scope="module")
def site_client(pg_engine, redis_client, module_prefix, tmp_path_factory):
    from deployments.api.control import LocalCameraControl
    from cluster.settings import TrackerSettings

    tmp = tmp_path_factory.mktemp("security")
    control = LocalCameraControl(pg_engine, lambda frames: [], tracker_params=TrackerSettings(), detection_fps=5.0,
                                 clips_dir=tmp / "clips", stop_timeout_s=5.0)  # fmt: skip
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix + "s:", max_site_file_kb=8),
                     extra_routers=[sites.router, cameras.router, notifications.router, pos.router],
                     state={"control": control, "store": LocalObjectStore(tmp / "objects")})  # fmt: skip
    with TestClient(app) as c:
        yield c


def test_an_alias_bomb_is_refused_at_once(site_client: TestClient, admin_headers: dict) -> None:
    lines = ["site: {name: bomb}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 nodes if expanded
    started = time.monotonic()
    response = site_client.post(f"{API}/sites/import", headers=admin_headers | {"Content-Type": "text/plain"},
                                content="\n".join(lines))  # fmt: skip
    assert response.status_code == 422 and "aliases" in response.text
    assert time.monotonic() - started < 5


def test_a_site_file_over_the_cap_is_413(site_client: TestClient, admin_headers: dict) -> None:
    text = "site: {name: big}\n" + "# padding\n" * 2000  # 20 KB > 8 KiB
    response = site_client.post(f"{API}/sites/import", headers=admin_headers | {"Content-Type": "text/plain"}, content=text)
    assert response.status_code == 413


# -------------------------------------------------------------------------- 7. secrets in responses
def _camera(engine: Engine, source: str) -> str:
    with Session(engine, expire_on_commit=False) as s:
        site = crud.create_site(s, SiteCreate(name=f"sec-{uuid.uuid4().hex[:8]}"))
        return crud.create_camera(s, CameraCreate(site_id=site.id, key="c", source=source)).id


def test_camera_credentials_are_never_shown_and_survive_an_edit(site_client, pg_engine, auth_headers) -> None:
    secret = "rtsp://admin:hunter2@192.168.1.20:554/live?token=s3cr3t&channel=1"
    camera_id = _camera(pg_engine, secret)
    for role in (UserRole.VIEWER, UserRole.ADMIN):
        body = site_client.get(f"{API}/cameras/{camera_id}", headers=auth_headers[role]).json()
        assert body["source"] == body["config"]["source"] == "rtsp://admin:***@192.168.1.20:554/live?token=***&channel=1"
        assert "hunter2" not in str(body) and "s3cr3t" not in str(body)
    listed = site_client.get(f"{API}/cameras", headers=auth_headers[UserRole.VIEWER], params={"limit": 1000}).text
    assert "hunter2" not in listed
    # the UI sends back what it was shown: the stored secret stays
    shown = site_client.get(f"{API}/cameras/{camera_id}", headers=auth_headers[UserRole.ADMIN]).json()
    patched = site_client.patch(f"{API}/cameras/{camera_id}", headers=auth_headers[UserRole.ADMIN],
                                json={"source": shown["source"], "friendly_name": "door"})  # fmt: skip
    assert patched.status_code == 200, patched.text
    with Session(pg_engine) as s:
        assert crud.get_camera(s, camera_id).source == secret


def test_webhook_urls_in_dead_letters_are_redacted(site_client, pg_engine, auth_headers) -> None:
    with Session(pg_engine, expire_on_commit=False) as s:
        alert = crud.create_alert(s, score=0.6, severity="medium")
        notify_repo.record_delivery(s, alert_id=alert.id, url="https://bot:pw@hooks.example.com/x?sig=abc",
                                    payload={}, attempts=5, last_error="500 from https://bot:pw@hooks.example.com/x",
                                    status="dead")  # fmt: skip
    text = site_client.get(f"{API}/notifications/dead-letters", headers=auth_headers[UserRole.SUPERVISOR],
                           params={"alert_id": alert.id}).text  # fmt: skip
    assert "bot:***@hooks.example.com/x?sig=***" in text and ":pw@" not in text and "abc" not in text


# ---------------------------------------------------------------------------- 8. camera-source SSRF
@pytest.mark.parametrize(
    "source",
    [
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata endpoint
        "http://[::ffff:169.254.169.254]/",  # the same, IPv4-mapped
        "http://2852039166/",  # the same, as one number
        "http://metadata.google.internal/computeMetadata/v1/",  # by name
        "rtsp://[fe80::1]/live",  # IPv6 link-local
        "rtsp://8.8.8.8/live",  # a public host not in CAMERA__ALLOWED_HOSTS
        "http://internal-billing.example.com/",  # a name not allowed
        "/etc/passwd",  # a server file
        "file:///etc/shadow",  # the same as a URL
        "/usr/share/doc/opencv-doc/examples/data/../../../../../etc/passwd",  # `..` out of the media root
    ],
)
def test_camera_sources_outside_the_policy_are_422(site_client, admin_headers, pg_engine, source: str) -> None:
    camera_id = _camera(pg_engine, "rtsp://192.168.1.5/live")
    response = site_client.patch(f"{API}/cameras/{camera_id}", headers=admin_headers, json={"source": source})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "source"]
    imported = site_client.post(f"{API}/sites/import", headers=admin_headers,
                                json={"yaml": f"site: {{name: ssrf}}\ncameras:\n  c: {{source: '{source}'}}\n"})  # fmt: skip
    assert imported.status_code == 422 and imported.json()["detail"][0]["loc"] == ["body", "cameras", "c", "source"]


def test_private_cameras_and_the_sample_footage_are_allowed(site_client, admin_headers, pg_engine, vtest_path) -> None:
    camera_id = _camera(pg_engine, "rtsp://192.168.1.5/live")
    for source in ("rtsp://10.1.2.3:554/h264", "http://cam-7.local/mjpg", "rtsp://127.0.0.1:8554/test", str(vtest_path)):
        response = site_client.patch(f"{API}/cameras/{camera_id}", headers=admin_headers, json={"source": source})
        assert response.status_code == 200, (source, response.text)


# --------------------------------------------------------------------------------- 9. sessions
def test_a_password_role_or_group_change_revokes_the_users_tokens(client, pg_engine, admin_headers) -> None:
    for change in ({"password": "another-password"}, {"role": "operator"}, {"camera_groups": ["north"]},
                   {"all_cameras": False}):  # fmt: skip
        user = create_random_user(pg_engine, UserRole.VIEWER)
        tokens = login(client, user.username)
        assert client.get(f"{API}/auth/me", headers=bearer(tokens)).status_code == 200
        assert client.patch(f"{API}/users/{user.id}", headers=admin_headers, json=change).status_code == 200
        refused = client.get(f"{API}/auth/me", headers=bearer(tokens))
        assert (refused.status_code, refused.json()) == (401, {"detail": "token revoked"}), change
        assert client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
        password = change.get("password", PASSWORD)
        assert client.get(f"{API}/auth/me", headers=bearer(login(client, user.username, password))).status_code == 200
    # an unrelated edit (same values) revokes nothing
    user = create_random_user(pg_engine, UserRole.VIEWER)
    tokens = login(client, user.username)
    assert client.patch(f"{API}/users/{user.id}", headers=admin_headers, json={"role": "viewer"}).status_code == 200
    assert client.get(f"{API}/auth/me", headers=bearer(tokens)).status_code == 200


@pytest.fixture(scope="module")
def ws_client(pg_engine, redis_client, module_prefix):
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix + "w:"),
                     extra_routers=[ws.router],
                     state={"hub": Hub(REDIS_URL), "stream_options": ws.StreamOptions(heartbeat_s=0.2, session_check_s=0.2)})  # fmt: skip
    app.include_router(ws.router)
    with TestClient(app) as c:
        yield c
        c.portal.call(app.state.hub.stop)


def _heartbeat(session, most: int = 50) -> None:
    """Read until the stream's first heartbeat (other processes may publish on the shared Redis channels)."""
    for _ in range(most):
        if session.receive_json().get("kind") == "heartbeat":
            return
    raise AssertionError(f"no heartbeat among {most} messages")


def _closed_reason(session, timeout_s: float = 10.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            session.receive_json()  # heartbeats until the server closes
    except WebSocketDisconnect as exc:
        return exc.code, exc.reason
    raise AssertionError(f"the socket stayed open for {timeout_s} s")


def test_websockets_close_on_logout_deactivation_and_expiry(ws_client, pg_engine) -> None:
    user = create_random_user(pg_engine, UserRole.VIEWER)
    tokens = login(ws_client, user.username)
    with ws_client.websocket_connect(f"/ws/events?access_token={tokens['access_token']}") as s:
        _heartbeat(s)
        assert ws_client.post(f"{API}/auth/logout", headers=bearer(tokens)).status_code == 204
        assert _closed_reason(s) == (1008, "logged out")

    user = create_random_user(pg_engine, UserRole.VIEWER)
    tokens = login(ws_client, user.username)
    with ws_client.websocket_connect(f"/ws/tracking?access_token={tokens['access_token']}") as s:
        _heartbeat(s)
        with Session(pg_engine) as session:
            crud.update_user(session, user.id, data=UserUpdate(is_active=False))
        assert _closed_reason(s) == (1008, "user deactivated")

    user = create_random_user(pg_engine, UserRole.VIEWER)
    short = create_token(user_id=user.id, role="viewer", token_type=TokenType.ACCESS,
                         secret=ws_client.app.state.config.jwt_secret, ttl_s=2).token  # fmt: skip
    with ws_client.websocket_connect(f"/ws/alerts?access_token={short}") as s:
        _heartbeat(s)
        started = time.monotonic()
        assert _closed_reason(s) == (1008, "token expired")
        assert time.monotonic() - started < 4


def test_a_password_change_closes_open_websockets(ws_client, pg_engine) -> None:
    from deployments.api.security import hash_password

    user = create_random_user(pg_engine, UserRole.VIEWER)
    tokens = login(ws_client, user.username)
    with ws_client.websocket_connect(f"/ws/events?access_token={tokens['access_token']}") as s:
        _heartbeat(s)
        with Session(pg_engine) as session:
            crud.update_user(session, user.id, data=UserUpdate(), password_hash=hash_password("a-new-password"))
        assert _closed_reason(s) == (1008, "session revoked")


# -------------------------------------------------------------------------------- 10. small ones
@pytest.fixture
def ui_client(pg_engine, redis_client, key_prefix):
    from deployments.live import finish_live_app, live_routers

    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, webui_dir=str(REPO / "webui" / "dist")),
                     extra_routers=live_routers())  # fmt: skip
    with TestClient(finish_live_app(app, redis_client)) as c:
        yield c


@pytest.mark.parametrize("path", ["/%00", "/assets/%00.js", "/a%00b/c", "/" + "x" * 5000])
def test_odd_paths_are_404_not_500(ui_client, path: str) -> None:
    if not (REPO / "webui" / "dist" / "index.html").is_file():
        pytest.fail("webui/dist is not built: run scripts/setup.sh")
    response = ui_client.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)  # the SPA page or a 404, never a 500


@pytest.mark.parametrize("path", ["/health", "/", f"{API}/auth/me", "/openapi.json"])
def test_every_response_carries_the_security_headers(ui_client, path: str) -> None:
    headers = ui_client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]


def test_the_ray_dashboard_is_not_exposed() -> None:
    config = yaml.safe_load((REPO / "ray-cluster.yaml").read_text())
    commands = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in commands and "0.0.0.0" not in commands


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("redis://127.0.0.1:6379/0", True),  # the local default
        ("redis://localhost:6380/3", True),  # loopback
        ("redis://redis.prod.internal:6379/0", False),  # a remote Redis without a password
        ("redis://:pw@redis.prod.internal:6379/0", True),  # with one
        ("rediss://10.0.0.5:6380/0", False),  # TLS does not replace a password
    ],
)
def test_a_remote_redis_needs_a_password(url: str, ok: bool) -> None:
    if ok:
        assert Settings(_env_file=None, redis_url=url).redis_url == url
    else:
        with pytest.raises(ValueError, match="has no password"):
            Settings(_env_file=None, redis_url=url)


def test_anonymous_floods_write_a_bounded_number_of_audit_rows(pg_engine, redis_client, key_prefix) -> None:
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, audit_anonymous_per_ip_per_min=5))
    marker = uuid.uuid4().hex
    with TestClient(app, client=(f"198.51.100.{uuid.uuid4().int % 250}", 1)) as client:
        for _ in range(12):
            assert client.delete(f"{API}/users/{marker}").status_code == 401
        user = create_random_user(pg_engine, UserRole.ADMIN)
        h = bearer(login(client, user.username))
        assert client.delete(f"{API}/users/{marker}", headers=h).status_code == 404  # signed-in users: always audited
    with Session(pg_engine) as s:
        rows, count = crud.list_audit(s, resource_id=marker, limit=100)
    assert count == 6 and sum(r.user_id is not None for r in rows) == 1
    metrics = app.state.metrics.render().decode()
    assert "witness_audit_dropped_total 7.0" in metrics


# --------------------------------------------------------------------- what the fuzzer found (fixed)
def test_a_login_body_that_is_not_utf8_is_422(client: TestClient) -> None:
    response = client.post(f"{API}/auth/login", content=b'{"username": "\xff\xfe", "password": "x"}',
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


def test_every_schema_reference_resolves(ui_client: TestClient) -> None:
    import json

    document = ui_client.get("/openapi.json").json()
    text = json.dumps(document)
    assert "#/$defs/" not in text  # pydantic's local refs (PosUpload) do not exist in an OpenAPI document
    components = document["components"]["schemas"]
    refs = {ref.removeprefix("#/components/schemas/") for ref in __import__("re").findall(r'"\$ref": "([^"]+)"', text)}
    assert refs <= set(components), refs - set(components)
    submit = document["paths"][f"{API}/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert submit["properties"]["pos"]["anyOf"][0]["properties"]["text"]["type"] == "string"  # PosUpload, inlined


@pytest.mark.parametrize("query", [{"type": "\x00"}, {"offset": 2**63}, {"camera_id": "a\x00b"}])
def test_values_the_database_cannot_hold_are_422(client: TestClient, admin_headers: dict, query: dict) -> None:
    assert client.get(f"{API}/events", headers=admin_headers, params=query).status_code == 422
