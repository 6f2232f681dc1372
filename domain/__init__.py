"""Pure domain logic: events, trajectories, geometry, the site file, zones, the rules engine, camera
health, appearance, stitching, POS, behaviour, the cross-check, intent scoring and alert states.

Imports only the stdlib and numeric libraries (numpy, pydantic, pyyaml, opencv, supervision);
never Ray, a database, a network or the file system.
"""

from domain.alerts import AlertAction, AlertState, AlertStatus, AuditEntry, InvalidTransitionError, dismissal_label, transition
from domain.appearance import color_embeddings
from domain.behaviour import BehaviourClass, BehaviourEvent, ZoneVisit, detect_bypass, detect_concealment
from domain.crosscheck import DiscrepancyReport, ProductInteraction, cross_check
from domain.events import Event, EventType, event_id
from domain.floorplan import CalibrationError, CameraCalibration, KalmanParams, MapKalman, fit_calibration, smooth_map_track
from domain.identity import MatchDecision, MatchParams, Sighting, Topology, Verdict, match_sighting
from domain.geometry import (
    Homography,
    denormalize_polygon,
    foot_points,
    polygon_area,
    polygon_self_intersects,
    segment_crosses,
    side_of_line,
)
from domain.health import CameraHealth, CameraState, HealthTracker
from domain.interactions import ShelfVisit, detect_pickups, detect_shelf_visits
from domain.pos import Catalog, PosFileError, PosSession, Product, Transaction, parse_transactions_csv, parse_transactions_json
from domain.pose_features import FEATURE_NAMES, window_features
from domain.rules import RulesEngine
from domain.scoring import IntentScore, ScoringConfig, Severity, score_intent
from domain.site import (
    CameraConfig,
    CrossDirection,
    LineConfig,
    RuleConfig,
    SiteConfig,
    SiteConfigError,
    SiteInfo,
    ZoneConfig,
    ZoneKind,
    parse_site_yaml,
)
from domain.tracks import Trajectory
from domain.zones import LineZone, PolygonZone

__all__ = [
    "CalibrationError",
    "CameraCalibration",
    "KalmanParams",
    "MapKalman",
    "MatchDecision",
    "MatchParams",
    "Sighting",
    "Topology",
    "Verdict",
    "fit_calibration",
    "match_sighting",
    "smooth_map_track",
    "FEATURE_NAMES",
    "AlertAction",
    "AlertState",
    "AlertStatus",
    "AuditEntry",
    "BehaviourClass",
    "BehaviourEvent",
    "CameraHealth",
    "CameraState",
    "Catalog",
    "DiscrepancyReport",
    "HealthTracker",
    "IntentScore",
    "InvalidTransitionError",
    "PosFileError",
    "PosSession",
    "Product",
    "ProductInteraction",
    "ScoringConfig",
    "Severity",
    "ShelfVisit",
    "Transaction",
    "ZoneVisit",
    "color_embeddings",
    "cross_check",
    "detect_bypass",
    "detect_concealment",
    "detect_pickups",
    "detect_shelf_visits",
    "dismissal_label",
    "parse_transactions_csv",
    "parse_transactions_json",
    "score_intent",
    "transition",
    "window_features",
    "CameraConfig",
    "CrossDirection",
    "Event",
    "EventType",
    "Homography",
    "LineConfig",
    "LineZone",
    "PolygonZone",
    "RuleConfig",
    "RulesEngine",
    "SiteConfig",
    "SiteConfigError",
    "SiteInfo",
    "Trajectory",
    "ZoneConfig",
    "ZoneKind",
    "denormalize_polygon",
    "event_id",
    "foot_points",
    "parse_site_yaml",
    "polygon_area",
    "polygon_self_intersects",
    "segment_crosses",
    "side_of_line",
]
