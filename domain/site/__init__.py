"""The site file: store, cameras, zones, lines and rules (validated pydantic models)."""

from domain.site.camera import CameraConfig, LineConfig, PointNorm, ZoneConfig, ZoneKind
from domain.site.config import SiteConfig, SiteInfo
from domain.site.loader import SiteConfigError, SiteProblem, parse_site_yaml
from domain.site.rules import (
    CrossDirection,
    DwellRuleConfig,
    FallRuleConfig,
    FightingRuleConfig,
    LineCrossRuleConfig,
    OccupancyRuleConfig,
    RuleAlertConfig,
    RuleBase,
    RuleConfig,
    ZoneEnterRuleConfig,
    ZoneExitRuleConfig,
    ZoneSequenceRuleConfig,
)

__all__ = [
    "CameraConfig",
    "CrossDirection",
    "DwellRuleConfig",
    "FallRuleConfig",
    "FightingRuleConfig",
    "LineConfig",
    "LineCrossRuleConfig",
    "OccupancyRuleConfig",
    "PointNorm",
    "RuleAlertConfig",
    "RuleBase",
    "RuleConfig",
    "SiteConfig",
    "SiteConfigError",
    "SiteInfo",
    "SiteProblem",
    "ZoneConfig",
    "ZoneEnterRuleConfig",
    "ZoneExitRuleConfig",
    "ZoneKind",
    "ZoneSequenceRuleConfig",
    "parse_site_yaml",
]
