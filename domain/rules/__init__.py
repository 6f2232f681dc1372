"""Rules engine: zone enter/exit, dwell, line crossing, zone sequences, occupancy, falls and fights."""

from domain.rules.base import EventGate, FrameView, RuleEvaluator
from domain.rules.engine import RulesEngine
from domain.rules.fall import FallEvaluator
from domain.rules.fighting import FightingEvaluator
from domain.rules.line_cross import LineCrossEvaluator
from domain.rules.membership import ExitReason, TrackState, Transition, ZoneMembership
from domain.rules.occupancy import OccupancyEvaluator
from domain.rules.sequence import ZoneSequenceEvaluator
from domain.rules.zone_events import DwellEvaluator, ZoneTransitionEvaluator

__all__ = [
    "DwellEvaluator",
    "EventGate",
    "FallEvaluator",
    "FightingEvaluator",
    "ExitReason",
    "FrameView",
    "LineCrossEvaluator",
    "OccupancyEvaluator",
    "RuleEvaluator",
    "RulesEngine",
    "TrackState",
    "Transition",
    "ZoneMembership",
    "ZoneSequenceEvaluator",
    "ZoneTransitionEvaluator",
]
