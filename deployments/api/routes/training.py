"""Model versions and behaviour-model training runs for the web UI.

- `GET /models/behaviour`: stored versions with their test metrics, lineage and stages (`storage.model_registry`).
- `GET /models/behaviour/stages`: which version production and staging use, and the changes.
- `POST /models/behaviour/promote`, `POST /models/behaviour/rollback`: change a stage (supervisor and admin,
  audited); live cameras following the stage switch within seconds (`actors.model_watch`).
- `GET /training/labels`: operators' labels with counts per class and source; `POST /training/labels` (a
  manual label on a bulk track's span) and `PATCH /training/labels/{id}` (correct a class) need `model.train`.
- `POST /training/runs`: start a run (`Permission.MODEL_TRAIN`); progress on Redis channel
  `witness:training:{id}` (see `deployments.training`).
- `GET /training/runs`, `GET /training/runs/{id}`: status, progress and, once done, the report.

Collaborators on `app.state`: `store` (the object store) and `training_runner` (a
`deployments.training.TrainingRunner`; without one, starting a run is 503).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from deployments.api.audit import audit_as, audit_context
from deployments.api.deps import API_PREFIX, CurrentUser, RedisDep, ScopeDep, SessionDep, require
from deployments.api.inputs import InputNotAllowedError
from deployments.api.routes.job_submit import get_input_policy
from deployments.api.permissions import Permission
from deployments.training import TrainingRequest, TrainingRunner, TrainingUnavailableError, training_channel
from deployments.api.schemas import Page
from domain.behaviour_model import CLASSES
from domain.labels import LabelSource
from storage.labels import label_counts, list_labels
from storage.model_registry import ModelNotFoundError, list_models
from storage.model_stages import Stage, current_stages, stage_history
from storage.models import ModelStageChangePublic, TrainingLabelPublic, TrainingLabelsPublic, TrainingRunPublic, TrainingRunsPublic
from storage.objectstore import ObjectStore, ObjectStoreError
from storage.training import get_run, list_runs, to_public

__all__ = ["models_router", "router", "ModelVersionPublic", "ModelVersionsPublic", "TrainingRunSubmitted", "LabelQuery"]

_READ = [Depends(require(Permission.READ))]
models_router = APIRouter(prefix="/models", tags=["models"], dependencies=_READ)
router = APIRouter(prefix="/training", tags=["training"], dependencies=_READ)


class ModelVersionPublic(BaseModel):
    """One stored model version."""

    version: str
    latest: bool
    kind: str
    key: str = Field(description="Object-store key of the model file")
    trained_at: str | None = None
    saved_at: str | None = None
    size_bytes: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="Test report: accuracy, per_class, confusion, …")
    params: dict[str, Any] = Field(default_factory=dict, description="Training parameters (fps, imgsz, window, …)")
    data: dict[str, Any] = Field(default_factory=dict, description="Training data summary (clips, windows per class)")
    dataset_hash: str | None = Field(None, description="SHA-256 of the training windows, labels and sources")
    code_version: str | None = Field(None, description="git:<sha> or pkg:<version> of the trainer")
    trained_by: str | None = Field(None, description="Who trained it")
    stages: list[str] = Field(default_factory=list, description="Stages using it now (production, staging)")
    comparison: dict[str, Any] | None = Field(None, description="Held-out comparison with the production version "
                                              "it was trained against")


class ModelVersionsPublic(BaseModel):
    data: list[ModelVersionPublic]
    count: int


class TrainingRunSubmitted(BaseModel):
    """A training run accepted."""

    id: str
    status: str = "pending"
    url: str = Field(description="The run: status, progress, report")
    channel: str = Field(description="Redis channel of its progress messages")


def get_store(conn: HTTPConnection) -> ObjectStore:
    """The object store on `app.state.store`."""
    return conn.app.state.store


def get_training_runner(conn: HTTPConnection) -> TrainingRunner | None:
    """The `TrainingRunner` on `app.state.training_runner`, or `None`."""
    return getattr(conn.app.state, "training_runner", None)


StoreDep = Annotated[ObjectStore, Depends(get_store)]
TrainingRunnerDep = Annotated[TrainingRunner | None, Depends(get_training_runner)]


@models_router.get("/behaviour")
def list_behaviour_models(session: SessionDep, store: StoreDep) -> ModelVersionsPublic:
    """Stored behaviour-model versions with their test metrics, lineage and stages, oldest first."""
    try:
        rows = list_models(store, "behaviour")
    except ObjectStoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"object store unavailable: {exc}") from None
    stages = current_stages(session, "behaviour")
    data = [ModelVersionPublic.model_validate(m | {"stages": [s for s, v in stages.items() if v == m["version"]]})
            for m in rows]
    return ModelVersionsPublic(data=data, count=len(data))


class ModelStagesPublic(BaseModel):
    """Which version each stage uses, and the changes, newest first."""

    stages: dict[str, str | None]
    history: list[ModelStageChangePublic]


class PromoteBody(BaseModel):
    """A version to put in a stage."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^(latest|v\d{4,})$", description="e.g. v0003, or latest")
    stage: Stage = Stage.PRODUCTION


class RollbackBody(BaseModel):
    """The stage to return to its previous version."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage = Stage.PRODUCTION


class StageChangedPublic(BaseModel):
    """A stored stage change, and whether live cameras were told."""

    change: ModelStageChangePublic
    announced: bool = Field(description="False: Redis was unreachable; cameras keep the old version until announced")


@models_router.get("/behaviour/stages")
def behaviour_stages(session: SessionDep) -> ModelStagesPublic:
    """Which behaviour-model version production and staging use, and the latest changes."""
    return ModelStagesPublic(stages=current_stages(session, "behaviour"),
                             history=[ModelStageChangePublic.model_validate(h) for h in stage_history(session, "behaviour")])


def _change_stage(session: Any, store: Any, redis: Any, request: Request, user: Any, *, action: str, stage: Stage,
                  version: str | None = None) -> StageChangedPublic:  # fmt: skip
    from actors.model_watch import change_stage

    try:
        row, announced = change_stage(session, store, redis, action=action, kind="behaviour", stage=stage,
                                      version=version, actor=user.username)  # fmt: skip
    except ModelNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ObjectStoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"object store unavailable: {exc}") from None
    ctx = audit_context(request)
    ctx.resource_id, ctx.detail = row.version, {"stage": row.stage, "previous": row.previous_version}
    return StageChangedPublic(change=ModelStageChangePublic.model_validate(row), announced=announced)


_STAGE_ADMIN = Depends(require(Permission.MODEL_TRAIN))


@models_router.post("/behaviour/promote", dependencies=[_STAGE_ADMIN, Depends(audit_as("model.promote", resource_type="model"))])
def promote_behaviour_model(request: Request, session: SessionDep, store: StoreDep, redis: RedisDep, user: CurrentUser,
                            body: PromoteBody) -> StageChangedPublic:  # fmt: skip
    """Put a stored version in production or staging (404: no such version; 409: already there)."""
    return _change_stage(session, store, redis, request, user, action="promote", stage=body.stage, version=body.version)


@models_router.post("/behaviour/rollback", dependencies=[_STAGE_ADMIN, Depends(audit_as("model.rollback", resource_type="model"))])
def rollback_behaviour_model(request: Request, session: SessionDep, store: StoreDep, redis: RedisDep, user: CurrentUser,
                             body: RollbackBody) -> StageChangedPublic:  # fmt: skip
    """Return a stage to the version it used before its last change (409: nothing to roll back to)."""
    return _change_stage(session, store, redis, request, user, action="rollback", stage=body.stage)


@router.post("/runs", status_code=status.HTTP_202_ACCEPTED, dependencies=[Depends(require(Permission.MODEL_TRAIN))])
async def start_training_run(request: Request, body: TrainingRequest, user: CurrentUser,
                             runner: TrainingRunnerDep) -> TrainingRunSubmitted:  # fmt: skip
    """Start training a behaviour model on labelled clips (422 names a bad folder or labels file).

    The folder must lie under the upload folder or `JOB__INPUT_ROOTS` (or an allowed bucket), like job inputs.
    """
    if runner is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "training is not available on this deployment")
    try:
        get_input_policy(request).check_folder(body.data_dir)
    except InputNotAllowedError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"data_dir {exc}") from None
    try:
        run_id = await run_in_threadpool(runner.submit, body, created_by=user.username)
    except TrainingUnavailableError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "training is not available on this deployment") from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    ctx = audit_context(request)
    ctx.resource_id, ctx.detail = run_id, {"data_dir": body.data_dir}
    return TrainingRunSubmitted(id=run_id, url=f"{API_PREFIX}/training/runs/{run_id}", channel=training_channel(run_id))


@router.get("/runs")
def list_training_runs(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> TrainingRunsPublic:  # fmt: skip
    """Training runs, newest first."""
    rows, count = list_runs(session, limit=limit, offset=offset)
    return TrainingRunsPublic(data=[to_public(r) for r in rows], count=count)


@router.get("/runs/{run_id}")
def get_training_run(session: SessionDep, run_id: str) -> TrainingRunPublic:
    """One training run: status, progress and, once done, the saved version and its report."""
    row = get_run(session, run_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "training run not found")
    return to_public(row)


BehaviourLabel = Enum("BehaviourLabel", {c.upper(): c for c in CLASSES}, type=str)  # type: ignore[misc]


class LabelQuery(Page):
    """Training-label filters."""

    source: LabelSource | None = Field(None, description="Only labels from this kind of decision")
    label: BehaviourLabel | None = Field(None, description="Only this class")  # type: ignore[valid-type]
    camera_id: str | None = Field(None, max_length=128, description="Only this camera's labels")
    since: datetime | None = Field(None, description="Only labels given at or after this time")


class ManualLabel(BaseModel):
    """An ML engineer's label of a span of one bulk video's track."""

    model_config = ConfigDict(extra="forbid")

    video_id: str = Field(min_length=1, max_length=32)
    track_id: int = Field(ge=0)
    t_start_s: float = Field(ge=0, le=1e7, description="Span start (s of the video)")
    t_end_s: float = Field(ge=0, le=1e7, description="Span end (s of the video)")
    label: BehaviourLabel  # type: ignore[valid-type]
    reason: str | None = Field(None, max_length=2000)


class LabelCorrection(BaseModel):
    """A corrected class for a stored label."""

    model_config = ConfigDict(extra="forbid")

    label: BehaviourLabel  # type: ignore[valid-type]
    reason: str | None = Field(None, max_length=2000)


_LABEL_EDIT = Depends(require(Permission.MODEL_TRAIN))


@router.post("/labels", status_code=status.HTTP_201_CREATED,
             dependencies=[_LABEL_EDIT, Depends(audit_as("label.add", resource_type="training_label"))])  # fmt: skip
def add_training_label(session: SessionDep, scope: ScopeDep, user: CurrentUser, body: ManualLabel) -> TrainingLabelPublic:
    """Label a span of a bulk video's track by hand (404: no such video or track in the user's scope)."""
    from storage import crud
    from storage.labels import add_manual_label

    video = crud.get_video(session, body.video_id)
    if video is None or not scope.sees_job(session, video.job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "video not found")
    try:
        row = add_manual_label(session, video_id=body.video_id, track_id=body.track_id, t_start_s=body.t_start_s,
                               t_end_s=body.t_end_s, label=body.label.value, actor=user.username, reason=body.reason)  # fmt: skip
    except crud.NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return TrainingLabelPublic.model_validate(row)


@router.patch("/labels/{label_id}", dependencies=[_LABEL_EDIT, Depends(audit_as("label.correct", resource_type="training_label",
                                                                                id_param="label_id"))])  # fmt: skip
def correct_training_label(session: SessionDep, scope: ScopeDep, user: CurrentUser, label_id: str,
                           body: LabelCorrection) -> TrainingLabelPublic:  # fmt: skip
    """Correct a label's class (404 outside the user's scope)."""
    from storage.labels import correct_label
    from storage.models import TrainingLabel

    row = session.get(TrainingLabel, label_id)
    if row is None or not scope.sees_row(session, camera_id=row.camera_id, job_id=row.job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "training label not found")
    return TrainingLabelPublic.model_validate(correct_label(session, label_id, label=body.label.value,
                                                            actor=user.username, reason=body.reason))  # fmt: skip


@router.get("/labels")
def list_training_labels(session: SessionDep, scope: ScopeDep, query: Annotated[LabelQuery, Depends()]) -> TrainingLabelsPublic:
    """Operators' training labels (dismissals, escalations, event verdicts), newest first, with counts per class and source."""
    filters = {"source": query.source, "label": query.label.value if query.label else None,
               "camera_id": query.camera_id, "since": query.since}  # fmt: skip
    rows, count = list_labels(session, scope=scope, limit=query.limit, offset=query.offset, **filters)
    by_class, by_source = label_counts(session, scope=scope, **filters)
    return TrainingLabelsPublic(data=[TrainingLabelPublic.model_validate(r) for r in rows], count=count,
                                by_class=by_class, by_source=by_source)
