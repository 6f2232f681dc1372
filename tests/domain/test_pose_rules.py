"""The pose rules (`fall`, `fighting`) on synthetic skeletons: table-driven, one scripted motion per row."""

from __future__ import annotations

import math
from contextlib import ExitStack as DoesNotRaise
from dataclasses import replace

import pytest

from domain import RulesEngine, SiteConfigError, parse_site_yaml
from domain.events import EventType
from domain.pose_features import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER
from tests.domain.skeletons import BENT, CROUCH, H, LYING, SITTING, STAND, Pose, motion, run_scene, together

RESOLUTION_WH = (640, 480)
TORSO = (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP)


def engine(rules: str, zones: str = "") -> RulesEngine:
    """An engine for one camera with these rules (YAML under `rules:`) and zones."""
    text = "cameras:\n  cam:\n"
    if zones:
        text += "    zones:\n" + "".join(f"      {z}\n" for z in zones.strip().splitlines())
    text += "    rules:\n" + "".join(f"      {r}\n" for r in rules.strip().splitlines())
    return RulesEngine("cam", parse_site_yaml(text).cameras["cam"], RESOLUTION_WH)


def kinds(events) -> list[tuple[str, int | None]]:
    return [(e.type.value, e.track_id) for e in events]


# ----------------------------------------------------------------------------------------- fall
FALL = "f: {type: fall}"
FALL_QUICK = "f: {type: fall, still_s: 2}"


@pytest.mark.parametrize(
    ("rule", "frames", "hide", "expected"),
    [
        (FALL, [], (), []),  # empty input
        (FALL, motion([(2, STAND), (0.6, LYING), (8, LYING)]), (), [("fall", 1)]),  # a fall, then lying still
        (FALL, motion([(2, STAND), (0.6, LYING), (8, LYING)]), TORSO, [("fall", 1)]),  # torso unseen: the box alone
        (FALL, motion([(2, STAND), (0.6, LYING), (2, LYING), (1.5, STAND), (5, STAND)]), (), []),  # trips, gets up
        (FALL, motion([(2, STAND), (0.6, LYING), (3, LYING)]), (), []),  # track ends before 5 s of stillness
        (FALL, motion([(2, STAND), (1.0, SITTING), (8, SITTING)]), (), []),  # sits down on a chair
        (FALL, motion([(2, STAND), (0.4, SITTING), (8, SITTING)]), (), []),  # drops onto a chair fast
        (FALL, motion([(2, STAND), (0.8, BENT), (1.5, BENT), (0.8, STAND), (4, STAND)]), (), []),  # bends to pick up
        (FALL, motion([(2, STAND), (0.8, BENT), (8, BENT)]), (), []),  # stays bent (reading a low label)
        (FALL, motion([(2, STAND), (0.8, CROUCH), (6, CROUCH)]), (), []),  # crouches at a low shelf
        (FALL, motion([(2, STAND), (0.4, CROUCH), (6, CROUCH)]), TORSO, []),  # fast crouch, torso unseen
        (FALL, motion([(3, STAND), (3.0, LYING), (8, LYING)]), (), []),  # lies down slowly (too slow for a fall)
        (FALL, motion([(8, LYING)]), (), []),  # already lying when first seen: no drop observed
        (FALL_QUICK, motion([(2, STAND), (0.6, LYING), (3, LYING)]), (), [("fall", 1)]),  # still_s 2 is met
        ("f: {type: fall, enabled: false}", motion([(2, STAND), (0.6, LYING), (8, LYING)]), (), []),  # disabled
    ],
)
def test_fall(rule, frames, hide, expected) -> None:
    assert kinds(run_scene(engine(rule), frames, hide=hide)) == expected


def test_fall_event_facts() -> None:
    events = run_scene(engine(FALL), motion([(2, STAND), (0.6, LYING), (12, LYING)]))
    assert len(events) == 1
    e = events[0]
    assert e.type is EventType.FALL and e.zone is None and e.clip
    assert 1.0 <= e.t_start_s <= 2.3  # the drop's start: within its 1 s window before the person was down
    p = e.payload
    assert p["drop_bh"] >= 0.25 and p["drop_speed_bh_s"] >= 0.6 and p["drop_s"] <= 1.0
    assert p["torso_angle_deg"] > 80 and p["aspect_after"] > 1.0 > p["aspect_before"]
    assert 5.0 <= p["still_s"] < 5.2 and p["body_height_px"] == pytest.approx(H, rel=0.1)
    assert e.t_end_s < 2 + 0.6 + 6  # fired once stillness was confirmed, not at the end of the video


def test_fall_only_in_its_zone() -> None:
    zones = "aisle: {polygon: [[0, 0], [0.25, 0], [0.25, 1], [0, 1]]}"  # x < 160 px
    rule = "f: {type: fall, zone: aisle}"
    outside = motion([(2, STAND), (0.6, LYING), (8, LYING)])  # hips at x = 200 px
    inside = motion([(2, replace(STAND, x=100)), (0.6, replace(LYING, x=100)), (8, replace(LYING, x=100))])
    assert kinds(run_scene(engine(rule, zones), outside)) == []
    assert [(e.type.value, e.zone) for e in run_scene(engine(rule, zones), inside)] == [("fall", "aisle")]


def test_fall_once_per_fall_and_again_after_getting_up() -> None:
    twice = motion([(2, STAND), (0.6, LYING), (7, LYING), (1.5, STAND), (3, STAND), (0.6, LYING), (7, LYING)])
    assert kinds(run_scene(engine(FALL), twice)) == [("fall", 1), ("fall", 1)]
    assert kinds(run_scene(engine("f: {type: fall, cooldown_s: 60}"), twice)) == [("fall", 1)]


# ------------------------------------------------------------------------------------- fighting
FIGHT = "x: {type: fighting}"


def punching(hz: float, swing_deg: float, phase: float = 0.0):
    """Arms punching forward and back (`swing_deg` amplitude at `hz`), legs kicking a little."""

    def wobble(t: float, p: Pose) -> Pose:
        s = math.sin(2 * math.pi * hz * t + phase)
        c = math.cos(2 * math.pi * hz * t + phase)
        return replace(p, l_arm=(70 + swing_deg * s, 80 + swing_deg * s), r_arm=(70 - swing_deg * c, 80 - swing_deg * c),
                       ankle_dx=(-0.05 + 0.1 * s, 0.05 + 0.1 * c), torso_deg=5 * s)
    return wobble


def handshake(t: float, p: Pose) -> Pose:
    s = math.sin(2 * math.pi * 2.0 * t)
    return replace(p, r_arm=(-60 + 5 * s, -80 + 5 * s))


def jogging(t: float, p: Pose) -> Pose:
    s = math.sin(2 * math.pi * 1.5 * t)
    return replace(p, l_arm=(40 * s, 40 * s + 30), r_arm=(-40 * s, -40 * s + 30), ankle_dx=(0.2 * s, -0.2 * s),
                   ankle_h=(max(0, 0.1 * s), max(0, -0.1 * s)), torso_deg=8)


def person(track: int, x: float, seconds: float, **kw) -> list[list[tuple]]:
    return motion([(seconds, replace(STAND, x=x))], track=track, **kw)


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        (FIGHT, [], []),  # empty input
        (FIGHT, together(person(1, 200, 5, wobble=punching(2.5, 70)), person(2, 260, 5, wobble=punching(2.5, 70, 1.0))),
         [("fighting", 1)]),  # two people trading blows 0.6 body heights apart
        (FIGHT, together(person(1, 200, 5, wobble=handshake), person(2, 250, 5, wobble=handshake)), []),  # handshake
        (FIGHT, together(person(1, 100, 5, dx=lambda t: 200 * t, wobble=jogging),
                         person(2, 140, 5, dx=lambda t: 200 * t, wobble=jogging)), []),  # two joggers side by side
        (FIGHT, together(person(1, 100, 5, dx=lambda t: 200 * t, wobble=punching(2.5, 70)),
                         person(2, 140, 5, dx=lambda t: 200 * t, wobble=punching(2.5, 70, 1.0))),
         []),  # fast limbs but travelling together (a chase, a dance troupe passing): not in place
        (FIGHT, together(person(1, 200, 1.2, wobble=punching(2.5, 70)), person(2, 260, 1.2, wobble=punching(2.5, 70))),
         []),  # a shove, over in 1.2 s
        (FIGHT, person(1, 200, 5, wobble=punching(2.5, 70)), []),  # one person flailing alone
        (FIGHT, together(person(1, 100, 5, wobble=punching(2.5, 70)), person(2, 450, 5, wobble=punching(2.5, 70))),
         []),  # two lively people 3.5 body heights apart
        (FIGHT, together(person(1, 200, 5, wobble=punching(2.5, 70)), person(2, 260, 5)), []),  # only one moves
        (FIGHT, together(person(1, 200, 2, wobble=punching(2.5, 70)), person(2, 260, 2, wobble=punching(2.5, 70, 1.0))),
         []),  # 2 s of footage: engaged for less than 2 s once the speed window has filled
        ("x: {type: fighting, min_duration_s: 1}",
         together(person(1, 200, 2, wobble=punching(2.5, 70)), person(2, 260, 2, wobble=punching(2.5, 70, 1.0))),
         [("fighting", 1)]),  # a shorter minimum duration catches the same scene
    ],
)
def test_fighting(rule, frames, expected) -> None:
    assert kinds(run_scene(engine(rule), frames)) == expected


def test_fighting_needs_visible_limbs() -> None:
    from domain.skeleton import LIMBS

    frames = together(person(1, 200, 5, wobble=punching(2.5, 70)), person(2, 260, 5, wobble=punching(2.5, 70, 1.0)))
    assert kinds(run_scene(engine(FIGHT), frames, hide=LIMBS)) == []


def test_fighting_event_facts() -> None:
    frames = together(person(3, 200, 6, wobble=punching(2.5, 70)), person(7, 260, 6, wobble=punching(2.5, 70, 1.0)))
    events = run_scene(engine(FIGHT), frames)
    assert len(events) == 1
    p = events[0].payload
    assert p["track_ids"] == [3, 7] and events[0].track_id == 3
    assert min(p["limb_speed_bh_s"]) >= 2.0 and p["distance_bh"] < 1.0
    assert 2.0 <= p["duration_s"] < 2.2 and events[0].t_end_s < 4.0  # emitted as soon as 2 s were reached


# ------------------------------------------------------------------------------------ site file
@pytest.mark.parametrize(
    ("rules", "zones", "exception", "message"),
    [
        ("f: {type: fall}", "", DoesNotRaise(), None),  # no zone needed
        ("f: {type: fighting, alert: {severity: critical, notify: false}}", "", DoesNotRaise(), None),
        ("f: {type: fall, zone: nowhere}", "", pytest.raises(SiteConfigError), "unknown zone 'nowhere'"),
        ("f: {type: fall, still_s: 0}", "", pytest.raises(SiteConfigError), "site.yaml:4: cameras.cam.rules.f.still_s: Input should be greater than 0"),
        ("f: {type: fighting, min_limb_speed: 2}", "", pytest.raises(SiteConfigError), "Extra inputs are not permitted"),
        ("f: {type: fall, alert: {severity: none}}", "", pytest.raises(SiteConfigError), "not none"),
        ("f: {type: fall, alert: {severity: high, page: true}}", "", pytest.raises(SiteConfigError),
         "alert.page"),
    ],
)
def test_pose_rule_config(rules, zones, exception, message) -> None:
    text = "cameras:\n  cam:\n    rules:\n" + f"      {rules}\n"
    with exception as info:
        parse_site_yaml(text, source="site.yaml")
    if message:
        assert message in str(info.value)
