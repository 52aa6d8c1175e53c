"""Detection building blocks under torchvision.ops' and torchvision.models.detection's names."""

from .anchors import AnchorGenerator, generate_anchors, grid_anchors
from .boxes import BoxCoder, batched_nms, box_area, box_iou, nms

__all__ = [
    "AnchorGenerator",
    "BoxCoder",
    "batched_nms",
    "box_area",
    "box_iou",
    "generate_anchors",
    "grid_anchors",
    "nms",
]
