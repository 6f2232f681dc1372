from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import pytest

from domain.site import (
    CameraConfig,
    CrossDirection,
    DwellRuleConfig,
    SiteConfig,
    SiteConfigError,
    ZoneKind,
    parse_site_yaml,
)

VALID = """\
site: {name: demo-store, friendly_name: Demo, timezone: Europe/London}
cameras:
  cam1:
    friendly_name: Entrance
    match: "vtest*.avi"
    fps: 10
    zones:
      aisle: {kind: shelf, polygon: [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9], [0.1, 0.9]], skus: [CHOC001]}
      till: {kind: checkout, polygon: [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]]}
      door: {kind: exit, polygon: [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]}
    lines:
      entry: {start: [0.0, 0.6], end: [1.0, 0.6]}
    rules:
      loiter: {type: dwell, zone: aisle, dwell_s: 8, cooldown_s: 5}
      door-in: {type: line_cross, line: entry, direction: in, clip: false}
      bypass: {type: zone_sequence, sequence: [aisle, door], absent: till, within_s: 120}
      crowd: {type: occupancy, zone: aisle, max_count: 3, for_s: 2}
  cam2: {}
default_camera: cam1
"""


def test_parse_valid_site() -> None:
    site = parse_site_yaml(VALID, "site.yaml")
    cam = site.cameras["cam1"]
    assert site.site.name == "demo-store"
    assert cam.match == ["vtest*.avi"]  # a string is normalized to a list
    assert cam.zones["aisle"].kind is ZoneKind.SHELF
    assert cam.zones["aisle"].inertia_frames == 1  # default
    assert isinstance(cam.rules["loiter"], DwellRuleConfig)
    assert cam.rules["door-in"].direction is CrossDirection.IN
    assert cam.rules["bypass"].absent == ["till"]
    assert cam.rules["loiter"].clip is True and cam.rules["door-in"].clip is False


def _edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


@pytest.mark.parametrize(
    ("text", "expected", "exception"),
    [
        ("", "site.yaml:1: the site file is empty", pytest.raises(SiteConfigError)),  # empty input
        ("- a\n- b\n", "site.yaml:1: the site file must be a mapping", pytest.raises(SiteConfigError)),  # a list
        ("site: {name: [x\n", "site.yaml:2: invalid YAML", pytest.raises(SiteConfigError)),  # syntax error
        (_edit("dwell_s: 8", "dwell_s: 0"),  # bound violated
         "site.yaml:14: cameras.cam1.rules.loiter.dwell_s: Input should be greater than 0",
         pytest.raises(SiteConfigError)),
        (_edit("cooldown_s: 5", "cooldwn_s: 5"),  # typo'd key is rejected
         "site.yaml:14: cameras.cam1.rules.loiter.cooldwn_s: Extra inputs are not permitted",
         pytest.raises(SiteConfigError)),
        (_edit("zone: aisle, dwell_s: 8", "zone: asle, dwell_s: 8"),  # unknown zone reference
         "site.yaml:14: cameras.cam1.rules.loiter.zone: rule 'loiter' references unknown zone 'asle'; "
         "known zones: aisle, door, till",
         pytest.raises(SiteConfigError)),
        (_edit("line: entry", "line: exit"),  # unknown line reference
         "site.yaml:15: cameras.cam1.rules.door-in.line: rule 'door-in' references unknown line 'exit'",
         pytest.raises(SiteConfigError)),
        (_edit("sequence: [aisle, door]", "sequence: [aisle, dor]"),  # unknown zone inside a list
         "site.yaml:16: cameras.cam1.rules.bypass.sequence.1: rule 'bypass' references unknown zone 'dor'",
         pytest.raises(SiteConfigError)),
        (_edit("type: occupancy", "type: crowding"),  # unknown rule type
         "site.yaml:17: cameras.cam1.rules.crowd: Input tag 'crowding'",
         pytest.raises(SiteConfigError)),
        (_edit(", dwell_s: 8", ""),  # missing required field: the rule's line
         "site.yaml:14: cameras.cam1.rules.loiter.dwell_s: Field required",
         pytest.raises(SiteConfigError)),
        (_edit("[0.5, 0.9], [0.1, 0.9]]", "[0.5, 1.9], [0.1, 0.9]]"),  # coordinate out of 0–1
         "site.yaml:8: cameras.cam1.zones.aisle.polygon.2.1: Input should be less than or equal to 1",
         pytest.raises(SiteConfigError)),
        (_edit("[[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]]", "[[0.6, 0.1], [0.9, 0.1]]"),  # too few points
         "site.yaml:9: cameras.cam1.zones.till.polygon: List should have at least 3 items",
         pytest.raises(SiteConfigError)),
        (_edit("[[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]]", "[[0.6, 0.1], [0.9, 0.4], [0.9, 0.1], [0.6, 0.3]]"),
         "site.yaml:9: cameras.cam1.zones.till.polygon: polygon edges cross each other",  # bow-tie
         pytest.raises(SiteConfigError)),
        (_edit("default_camera: cam1", "default_camera: cam9"),  # unknown default camera
         "site.yaml:19: default_camera: default_camera 'cam9' is not a camera",
         pytest.raises(SiteConfigError)),
        (_edit("  cam2: {}", "  cam1: {}"),  # duplicate key
         "site.yaml:18: cameras.cam1: duplicate key",
         pytest.raises(SiteConfigError)),
        (VALID, None, DoesNotRaise()),  # the valid file
    ],
)
def test_parse_errors(text, expected, exception) -> None:
    with exception as info:
        parse_site_yaml(text, "site.yaml")
    if expected is not None:
        assert isinstance(info.value, ValueError)
        assert str(info.value).startswith(expected), str(info.value)


def test_skus_on_non_shelf_zone_warn() -> None:
    with pytest.warns(UserWarning, match="only shelf zones carry skus"):
        parse_site_yaml(_edit("kind: checkout,", "kind: checkout, skus: [X],"))


@pytest.mark.parametrize(
    ("cameras", "default_camera", "filename", "expected"),
    [
        ({}, None, "vtest.avi", None),  # empty site
        ({"a": ["vtest*"], "b": []}, None, "/up/VTEST.avi", "a"),  # glob on base name, case-insensitive
        ({"a": ["x*"], "b": ["*.avi"]}, None, "vtest.avi", "b"),  # first matching camera
        ({"a": ["x*"], "b": []}, "b", "vtest.avi", "b"),  # falls back to default_camera
        ({"a": ["x*"]}, None, "vtest.avi", "a"),  # the only camera
        ({"a": ["x*"], "b": []}, None, "vtest.avi", None),  # ambiguous: none
    ],
)
def test_camera_for_video(cameras, default_camera, filename, expected) -> None:
    site = SiteConfig(
        cameras={k: CameraConfig(match=m) for k, m in cameras.items()}, default_camera=default_camera
    )
    result = site.camera_for_video(filename)
    assert (result[0] if result else None) == expected


def test_default_site_is_empty() -> None:
    site = SiteConfig.default()
    assert site.cameras == {} and site.default_camera is None
    assert site.camera_for_video("any.mp4") is None


def test_example_site_file_parses() -> None:
    path = Path(__file__).parents[2] / "examples" / "site.yaml"
    site = parse_site_yaml(path.read_text(), path.name)
    camera_id, camera = site.camera_for_video("vtest.avi")
    assert camera_id == "vtest"
    kinds = {z.kind for z in camera.zones.values()}
    assert {ZoneKind.SHELF, ZoneKind.CHECKOUT, ZoneKind.EXIT} <= kinds
    types = {r.type for r in camera.rules.values()}
    assert types == {"zone_enter", "zone_exit", "dwell", "line_cross", "zone_sequence", "occupancy"}
