from contextlib import ExitStack as DoesNotRaise

import pytest

from domain.capacity import ACCELERATORS, CONTROL_PLANE_RATES, plan_capacity


@pytest.mark.parametrize(
    ("args", "kwargs", "exception"),
    [
        ((600, 5, 960, "cpu"), {}, DoesNotRaise()),  # the example
        ((0, 5, 960, "cpu"), {}, pytest.raises(ValueError, match="cameras")),  # no cameras
        ((600, 0, 960, "cpu"), {}, pytest.raises(ValueError, match="fps")),  # no rate
        ((600, 5, 960, "tpu"), {}, pytest.raises(ValueError, match="gpu must be one of")),  # unknown accelerator
        ((600, 5, 960, "cpu"), {"utilisation": 1.5}, pytest.raises(ValueError, match="utilisation")),  # over 100 %
        ((600, 5, 960, "cpu"), {"busy_factor": 0}, pytest.raises(ValueError, match="busy_factor")),  # no activity
    ],
)
def test_plan_capacity_validates(args, kwargs, exception) -> None:
    with exception:
        plan_capacity(*args, **kwargs)


def test_cpu_plan_arithmetic() -> None:
    # 600 × 5 = 3000 frames/s; a CPU replica measured 28 frames/s at 960, planned at 70 %: 19.6 each.
    p = plan_capacity(600, 5, 960, "cpu")
    assert p.frames_per_s == 3000
    assert p.detector_replicas == p.devices == 154  # ceil(3000 / 19.6)
    assert p.detector_cpus == 308  # 2 threads each
    assert p.camera_cpus == pytest.approx(3000 * ACCELERATORS["cpu"].camera_core_s_per_frame.value / 0.7, abs=0.1)
    # 8 replicas per 32-vCPU node: 20 nodes hold 154 replicas (their CPUs would fit in fewer).
    assert p.nodes == max(-(-154 // 8), -(-(p.camera_cpus + p.detector_cpus) // 32)) == 20
    assert p.headroom == pytest.approx(0.3)


def test_image_size_costs_pixels() -> None:
    # Twice the side, four times the pixels: a quarter of the frames/s per replica, ~4x the replicas.
    small, big = plan_capacity(100, 5, 640, "l4"), plan_capacity(100, 5, 1280, "l4")
    assert big.replica_frames_per_s.value == pytest.approx(small.replica_frames_per_s.value / 4, rel=0.01)
    assert big.devices >= 4 * small.devices - 3


def test_gpu_plans_need_fewer_devices_and_say_the_figures_are_published() -> None:
    cpu, l4, h100 = (plan_capacity(600, 5, 960, g) for g in ("cpu", "l4", "h100"))
    assert h100.devices <= l4.devices < cpu.devices
    assert h100.nodes >= 1 and l4.nodes >= -(-l4.devices // 4)
    assert "published" in l4.sources["detector frames/s"] and "unmeasured" in l4.sources["detector frames/s"]
    assert cpu.sources["detector frames/s"].startswith("measured")
    assert all(s for s in cpu.sources.values())


def test_control_plane_load_scales_with_cameras_and_busy_factor() -> None:
    one, busy = plan_capacity(600, 5, 960, "l4"), plan_capacity(600, 5, 960, "l4", busy_factor=3)
    assert one.events_per_s == pytest.approx(600 * 65 / 60, abs=0.5)
    assert busy.events_per_s == pytest.approx(3 * one.events_per_s, abs=0.5)
    assert busy.identity_lookups_per_s == pytest.approx(3 * one.identity_lookups_per_s, abs=0.5)
    # Redis: one tracking update per analysed frame, health once a second, each event once.
    assert one.redis_messages_per_s == pytest.approx(3000 + 600 + one.events_per_s, abs=0.5)
    assert one.db_writes_per_s > one.events_per_s


def test_event_sinks_carry_the_events_at_the_planned_utilisation() -> None:
    sink = CONTROL_PLANE_RATES.sink_events_per_s.value
    one, busy = plan_capacity(600, 5, 960, "l4"), plan_capacity(600, 5, 960, "l4", busy_factor=3)
    for p in (one, busy):
        assert p.event_sinks * sink * 0.7 >= p.events_per_s  # enough sinks for the events
        assert (p.event_sinks - 1) * sink * 0.7 < p.events_per_s  # and no more than needed
    assert busy.event_sinks > one.event_sinks
    assert plan_capacity(1, 5, 960, "cpu").event_sinks == 1
    assert CONTROL_PLANE_RATES.sink_events_per_s.source.startswith("measured")
