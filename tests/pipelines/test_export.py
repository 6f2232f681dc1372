import csv
import json
from contextlib import ExitStack as DoesNotRaise

import pytest
from sqlmodel import Session

from domain.tracks import Trajectory
from pipelines.export import ExportFormat, export_tracks
from storage import crud
from tests.factories import make_trajectory

FPS = 10.0


@pytest.fixture
def session(sqlite_engine):  # noqa: ANN001, ANN201
    with Session(sqlite_engine, expire_on_commit=False) as s:
        yield s


def store_job(
    session: Session, videos: list[tuple[str, list[Trajectory] | None]]
) -> str:
    """A job with one video per `(uri, trajectories)`; `None` trajectories mark the video failed."""
    job = crud.create_job(session, params={"fps": FPS}, inputs=[uri for uri, _ in videos])
    for video, (_, trajectories) in zip(crud.list_videos(session, job.id), videos):
        crud.update_video_probe(session, video.id, fps=FPS, frame_count=100, width=640, height=480, codec="avc1",
                                duration_s=10.0, size_bytes=1234)
        if trajectories is None:
            crud.fail_video(session, video.id, "decode error")
        else:
            crud.save_video_results(session, video_id=video.id, trajectories=trajectories, events=[], clips=[],
                                    frames_analysed=50, people_count=len(trajectories))
    return job.id


def box(x: float, y: float = 20.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    """An xyxy box from its top-left corner and size."""
    return [x, y, x + w, y + h]


# ---------------------------------------------------------------------------------------------- MOT
@pytest.mark.parametrize(
    ("trajectories", "expected_lines"),
    [
        ([], []),  # empty input: a done video with nobody in it gives an empty file
        (  # stride 1: frames 1-based, boxes xyxy -> xywh
            [make_trajectory(3, [0, 1], [box(10), box(12.5, 30, 20, 50)], confidence=[0.9, 0.8])],
            ["1,3,10.00,20.00,40.00,100.00,0.900,-1,-1,-1", "2,3,12.50,30.00,20.00,50.00,0.800,-1,-1,-1"],
        ),
        (  # stride 2: frames between analysed points interpolated (box and confidence), nothing across 26 frames
            [make_trajectory(1, [0, 2, 4, 30, 32], [box(10), box(12), box(14), box(40), box(42)],
                             confidence=[0.9, 0.8, 0.7, 0.6, 0.5])],
            [
                "1,1,10.00,20.00,40.00,100.00,0.900,-1,-1,-1",
                "2,1,11.00,20.00,40.00,100.00,0.850,-1,-1,-1",
                "3,1,12.00,20.00,40.00,100.00,0.800,-1,-1,-1",
                "4,1,13.00,20.00,40.00,100.00,0.750,-1,-1,-1",
                "5,1,14.00,20.00,40.00,100.00,0.700,-1,-1,-1",
                "31,1,40.00,20.00,40.00,100.00,0.600,-1,-1,-1",
                "32,1,41.00,20.00,40.00,100.00,0.550,-1,-1,-1",
                "33,1,42.00,20.00,40.00,100.00,0.500,-1,-1,-1",
            ],
        ),
        (  # two tracks: lines ordered by frame, then id; a gap the job bridged (stored interpolated point) is filled
            [
                make_trajectory(2, [4, 6], [box(100, 50, 30, 60), box(104, 50, 30, 60)], confidence=[0.95, 0.95]),
                make_trajectory(1, [2, 4, 6], [box(0), box(2), box(4)], confidence=[0.8, 0.0, 0.6],
                                interpolated=[False, True, False]),
            ],
            [
                "3,1,0.00,20.00,40.00,100.00,0.800,-1,-1,-1",
                "4,1,1.00,20.00,40.00,100.00,0.750,-1,-1,-1",
                "5,1,2.00,20.00,40.00,100.00,0.700,-1,-1,-1",  # stored interpolated: the detected mean
                "5,2,100.00,50.00,30.00,60.00,0.950,-1,-1,-1",
                "6,1,3.00,20.00,40.00,100.00,0.650,-1,-1,-1",
                "6,2,102.00,50.00,30.00,60.00,0.950,-1,-1,-1",
                "7,1,4.00,20.00,40.00,100.00,0.600,-1,-1,-1",
                "7,2,104.00,50.00,30.00,60.00,0.950,-1,-1,-1",
            ],
        ),
    ],
)
def test_export_mot(session, tmp_path, trajectories, expected_lines) -> None:
    job_id = store_job(session, [("s3://bucket/store/cam-1.mp4", trajectories)])
    paths = export_tracks(session, job_id, ExportFormat.MOT, tmp_path / "out")
    assert paths == [tmp_path / "out" / "cam-1.txt"]
    assert paths[0].read_text().splitlines() == expected_lines


# ---------------------------------------------------------------------------------------------- CSV
CSV_HEADER = ["track_id", "frame", "t_s", "x1", "y1", "x2", "y2", "foot_x", "foot_y", "confidence", "interpolated"]


@pytest.mark.parametrize(
    ("trajectories", "expected_rows"),
    [
        ([], 0),  # empty input: header only
        ([make_trajectory(1, [0, 2, 4])], 3),  # stored points only, no densifying
        ([make_trajectory(1, [0, 2, 4], interpolated=[False, True, False]), make_trajectory(2, [10, 11])], 5),  # all
    ],
)
def test_export_csv(session, tmp_path, trajectories, expected_rows) -> None:
    job_id = store_job(session, [("cam-1.mp4", trajectories)])
    (path,) = export_tracks(session, job_id, ExportFormat.CSV, tmp_path)
    assert path.name == "cam-1.csv"
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == CSV_HEADER
    assert len(rows) - 1 == expected_rows
    if expected_rows:
        first = dict(zip(CSV_HEADER, rows[1]))
        # make_trajectory's default first box: [10, 20, 50, 120] at frame 0, confidence 0.9
        assert first == {"track_id": "1", "frame": "0", "t_s": "0.000", "x1": "10.00", "y1": "20.00", "x2": "50.00",
                         "y2": "120.00", "foot_x": "30.00", "foot_y": "120.00", "confidence": "0.900",
                         "interpolated": "0"}
        assert [r[10] for r in rows[1:4]] == (["0", "1", "0"] if expected_rows == 5 else ["0", "0", "0"])


# --------------------------------------------------------------------------------------------- JSON
def test_export_json(session, tmp_path) -> None:
    trajectories = [
        make_trajectory(1, [0, 2, 4], interpolated=[False, True, False], keypoints=True),
        make_trajectory(2, [6, 8]),
    ]
    job_id = store_job(session, [("/videos/cam 1.mp4", trajectories)])
    (path,) = export_tracks(session, job_id, ExportFormat.JSON, tmp_path)
    assert path.name == "cam_1.json"  # unsafe characters replaced
    doc = json.loads(path.read_text())
    assert set(doc) == {"video", "tracks"}
    video = doc["video"]
    assert {k: video[k] for k in ("name", "uri", "fps", "frame_count", "resolution_wh", "stride")} == {
        "name": "cam 1.mp4", "uri": "/videos/cam 1.mp4", "fps": FPS, "frame_count": 100,
        "resolution_wh": [640, 480], "stride": 2,
    }
    assert [(t["track_id"], t["first_t_s"], t["last_t_s"]) for t in doc["tracks"]] == [(1, 0.0, 0.4), (2, 0.6, 0.8)]
    points = doc["tracks"][0]["points"]
    assert [p["frame"] for p in points] == [0, 2, 4]
    assert points[0] == {"frame": 0, "t_s": 0.0, "xyxy": [10.0, 20.0, 50.0, 120.0], "foot_xy": [30.0, 120.0],
                         "confidence": 0.9, "interpolated": False, "keypoints": [[10.0, 20.0, 1.0]] * 17}
    assert points[1]["interpolated"] is True and points[1]["keypoints"] is None  # no keypoints for filled points
    assert doc["tracks"][1]["points"][0]["keypoints"] is None  # track stored without keypoints


# ------------------------------------------------------------------------------------- jobs and errors
@pytest.mark.parametrize(
    ("videos", "fmt", "expected_names", "exception"),
    [
        ([("a.mp4", None)], ExportFormat.CSV, None, pytest.raises(LookupError, match="no completed video")),  # failed
        ([("a.mp4", [make_trajectory()]), ("b.mp4", None)], ExportFormat.MOT, ["a.txt"], DoesNotRaise()),  # skip failed
        (  # two inputs with the same file name get distinct files
            [("s3://x/cam.mp4", [make_trajectory()]), ("s3://y/cam.mp4", [make_trajectory()])], ExportFormat.JSON,
            ["cam.json", "cam-*.json"], DoesNotRaise(),
        ),
    ],
)
def test_export_tracks_videos_of_a_job(session, tmp_path, videos, fmt, expected_names, exception) -> None:
    job_id = store_job(session, videos)
    with exception:
        paths = export_tracks(session, job_id, fmt, tmp_path / "out")
        assert len(paths) == len(expected_names) == len(set(paths))
        for path, pattern in zip(paths, expected_names):
            assert path.match(pattern) and path.is_file()


def test_export_tracks_unknown_job(session, tmp_path) -> None:
    with pytest.raises(LookupError, match="no-such-job"):
        export_tracks(session, "no-such-job", ExportFormat.MOT, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
