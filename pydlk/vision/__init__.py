"""Detection building blocks under torchvision.ops' and torchvision.models.detection's names."""
from .boxes import BoxCoder, batched_nms, box_area, box_iou, nms  # noqa: F401
from .anchors import AnchorGenerator, generate_anchors, grid_anchors  # noqa: F401

__all__ = ["box_area", "box_iou", "nms", "batched_nms", "BoxCoder", "AnchorGenerator",
           "generate_anchors", "grid_anchors"]
