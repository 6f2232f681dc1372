"""Pure domain logic: events, trajectories, geometry, the site file, zones and the rules engine.

Imports only the stdlib and numeric libraries (numpy, pydantic, pyyaml, opencv, supervision);
never Ray, a database, a network or the file system.
"""

from domain.events import Event, EventType, event_id
from domain.geometry import (
    Homography,
    denormalize_polygon,
    foot_points,
    polygon_area,
    polygon_self_intersects,
    segment_crosses,
    side_of_line,
)
from domain.rules import RulesEngine
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
