"""How closely two backends' detections agree: one-to-one box matching by IoU (pure numpy / scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

__all__ = ["Agreement", "box_agreement"]


@dataclass(frozen=True)
class Agreement:
    """Matched boxes between a reference and a candidate.

    Attributes:
        reference: boxes in the reference (e.g. PyTorch).
        candidate: boxes in the candidate (e.g. OpenVINO).
        matched: one-to-one pairs with IoU >= the threshold.
        mean_iou: mean IoU of the matched pairs (1.0 when none).
    """

    reference: int
    candidate: int
    matched: int
    mean_iou: float

    @property
    def recall(self) -> float:
        """Share of reference boxes the candidate also found (1.0 when the reference is empty)."""
        return self.matched / self.reference if self.reference else 1.0

    @property
    def precision(self) -> float:
        """Share of candidate boxes the reference also has (1.0 when the candidate is empty)."""
        return self.matched / self.candidate if self.candidate else 1.0

    def __add__(self, other: Agreement) -> Agreement:
        matched = self.matched + other.matched
        iou = (self.mean_iou * self.matched + other.mean_iou * other.matched) / matched if matched else 1.0
        return Agreement(self.reference + other.reference, self.candidate + other.candidate, matched, iou)


def box_agreement(
    reference_xyxy: npt.NDArray[np.floating], candidate_xyxy: npt.NDArray[np.floating], *, iou_threshold: float = 0.5,
) -> Agreement:
    """Match two sets of boxes one-to-one (Hungarian assignment on IoU) and count the pairs over `iou_threshold`.

    Args:
        reference_xyxy: `(N, 4)` `[x1, y1, x2, y2]` pixels.
        candidate_xyxy: `(M, 4)` `[x1, y1, x2, y2]` pixels.
        iou_threshold: minimum IoU of a matched pair (0.5 is the PASCAL VOC / MOTChallenge convention).

    Returns:
        The `Agreement` (counts and mean IoU).

    Example:
        >>> box_agreement(np.array([[0, 0, 10, 10]]), np.array([[1, 0, 11, 10], [50, 50, 60, 60]])).matched
        1
    """
    import supervision as sv

    a = np.asarray(reference_xyxy, np.float64).reshape(-1, 4)
    b = np.asarray(candidate_xyxy, np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return Agreement(len(a), len(b), 0, 1.0)
    iou = sv.box_iou_batch(a, b)
    rows, cols = linear_sum_assignment(-iou)
    good = iou[rows, cols] >= iou_threshold
    matched = int(good.sum())
    return Agreement(len(a), len(b), matched, float(iou[rows, cols][good].mean()) if matched else 1.0)
