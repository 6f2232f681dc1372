"""Camera-group scoping: which rows a user may see, as one value and the SQL conditions it implies.

Every row that concerns a camera belongs to a camera group:

- a live row (an event, alert, clip or POS transaction with no `job_id`) to the group of its
  camera (`camera.camera_group`); a row naming no camera, or a camera that is gone, to none;
- a bulk-job row (a job, and its videos, tracks, events, clips and alerts) to the job's
  `camera_group`: the group of the user who submitted it, never the group of a site camera the
  videos' names map to, so a bulk job can neither read nor write into another group's cameras.

A `CameraScope` sees every row (`all_cameras`: admins and users flagged so) or the rows whose
group is one of `groups`; a row in no group is then hidden. An empty `groups` sees nothing.
The API builds one per request (`deployments.api.deps.ScopeDep`); repository functions take it
as `scope=` (`None` = unrestricted, for the CLI and the platform itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Camera, Job

__all__ = ["CameraScope", "EVERYTHING"]


@dataclass(frozen=True)
class CameraScope:
    """The cameras (and bulk jobs) a user may see.

    Attributes:
        all_cameras: sees every row, whatever its group.
        groups: otherwise, the camera groups whose rows are visible.
    """

    all_cameras: bool = False
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *, all_cameras: bool, groups: Iterable[str] = ()) -> CameraScope:
        """A scope from a user's flag and group list."""
        return cls(all_cameras=bool(all_cameras), groups=frozenset(groups))

    def sees_group(self, group: str | None) -> bool:
        """Whether a row in `group` is visible (`None`: in no group, visible to `all_cameras` only).

        Example:
            >>> CameraScope.of(all_cameras=False, groups=["front"]).sees_group("back")
            False
        """
        return self.all_cameras or (group is not None and group in self.groups)

    # ------------------------------------------------------------------------------- SQL
    def _groups(self) -> list[str]:
        return sorted(self.groups)

    def camera_ids(self) -> Any:
        """`SELECT camera.id` of the visible cameras (a subquery for `IN`)."""
        return select(Camera.id).where(col(Camera.camera_group).in_(self._groups()))

    def job_ids(self) -> Any:
        """`SELECT job.id` of the visible bulk jobs (a subquery for `IN`)."""
        return select(Job.id).where(col(Job.camera_group).in_(self._groups()))

    def camera_clause(self, camera_id: Any) -> Any:
        """Condition on a camera-id column: the row's camera is visible."""
        if self.all_cameras:
            return sa.true()
        if not self.groups:
            return sa.false()
        return col(camera_id).in_(self.camera_ids())

    def job_clause(self, job_group: Any = None) -> Any:
        """Condition on the `job` table (its `camera_group`, or the column given)."""
        if self.all_cameras:
            return sa.true()
        if not self.groups:
            return sa.false()
        return col(job_group if job_group is not None else Job.camera_group).in_(self._groups())

    def row_clause(self, *, camera_id: Any, job_id: Any) -> Any:
        """Condition on a table with a camera id and an optional job id (events, alerts, clips).

        A row with a job belongs to the job's group; one without to its camera's group.
        """
        if self.all_cameras:
            return sa.true()
        if not self.groups:
            return sa.false()
        return sa.or_(
            sa.and_(col(job_id).is_(None), col(camera_id).in_(self.camera_ids())),
            sa.and_(col(job_id).is_not(None), col(job_id).in_(self.job_ids())),
        )

    # ------------------------------------------------------------------------ one row
    def sees_camera(self, session: Session, camera_id: str | None) -> bool:
        """Whether the camera with this id exists and is visible (an unknown id: only to `all_cameras`)."""
        if self.all_cameras:
            return True
        camera = session.get(Camera, camera_id) if camera_id else None
        return camera is not None and self.sees_group(camera.camera_group)

    def sees_job(self, session: Session, job_id: str | None) -> bool:
        """Whether the job with this id exists and is visible."""
        job = session.get(Job, job_id) if job_id else None
        return job is not None and self.sees_group(job.camera_group)

    def sees_row(self, session: Session, *, camera_id: str | None, job_id: str | None) -> bool:
        """Whether a row with this camera id and job id is visible (see the module docstring)."""
        if self.all_cameras:
            return True
        if job_id is not None:
            return self.sees_job(session, job_id)
        return self.sees_camera(session, camera_id)


EVERYTHING = CameraScope(all_cameras=True)
