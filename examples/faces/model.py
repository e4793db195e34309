"""The MTCNN face detector of facenet-pytorch 2.6.0 (Tim Esler, MIT; networks and weights of Zhang et al. 2016
via davidsandberg/facenet) in plain torch: no torchvision, no numpy, no facenet_pytorch import.

Three networks in a cascade, as ``facenet_pytorch/models/utils/detect_face.py`` runs them: PNet slides over an
image pyramid and proposes boxes; RNet rescores and refines crops of them resampled to 24 px; ONet does the
same at 48 px and places five landmarks (eyes, nose, mouth corners). Between stages, non-maximum suppression
(torchvision's ``batched_nms`` semantics, and the package's own numpy 'Min' NMS at the end) removes
duplicates, so the module answers with final detections and the task applies no NMS of its own.

The steps between the networks depend on the data (how many boxes pass, where the crops fall) and stay in
eager torch. Each image of a batch is cascaded on its own, so a photo's answer does not depend on its batch,
and the package's ``batched_nms`` over image indices is plain ``nms`` within the one image (exactly what
torchvision computes for one image). ``weights.py`` fills the module from the package's ``data/*net.pt``
and writes ``cascade.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.functional import interpolate

__all__ = ["ONet", "PNet", "RNet", "Mtcnn", "nms", "nms_min"]

CELL = 12                 # PNet's window, px at the scale it runs
STRIDE = 2                # PNet's step between windows
RNET_SIZE, ONET_SIZE = 24, 48
PNET_SCALE_NMS, PNET_NMS, RNET_NMS, ONET_NMS_MIN = 0.5, 0.7, 0.7, 0.7
CHUNK = 512               # crops per RNet/ONet call, as the package's fixed_batch_process


class PNet(nn.Module):
    """Proposal network, fully convolutional: per 12 px window (stride 2), box offsets and face probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """[B, 3, H, W] -> offsets [B, 4, h, w], probabilities (not face, face) [B, 2, h, w]."""
        x = max_pool(self.pool1, self.prelu1(self.conv1(x)))
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):
    """Refinement network on 24 px crops: box offsets and face probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """[n, 3, 24, 24] -> offsets [n, 4], probabilities [n, 2]."""
        x = max_pool(self.pool1, self.prelu1(self.conv1(x)))
        x = max_pool(self.pool2, self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()  # the weights came from TensorFlow: flatten (w, h, c)
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    """Output network on 48 px crops: box offsets, five landmarks (x1..x5, y1..y5 in the crop, 0..1) and face
    probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[n, 3, 48, 48] -> offsets [n, 4], landmarks [n, 10], probabilities [n, 2]."""
        x = max_pool(self.pool1, self.prelu1(self.conv1(x)))
        x = max_pool(self.pool2, self.prelu2(self.conv2(x)))
        x = max_pool(self.pool3, self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


class Mtcnn(nn.Module):
    """Normalized RGB images in, faces out: boxes, scores, classes (all 0, "face") and five landmarks each.

    ``artifacts["cascade"]`` is a JSON file of the cascade's constants: ``min_face_size`` (px), ``thresholds``
    (PNet, RNet, ONet face probabilities a box must pass) and ``factor`` (between pyramid scales).
    """

    def __init__(self, artifacts: Mapping[str, str | Path]) -> None:
        super().__init__()
        cascade = read_cascade(Path(artifacts["cascade"]))
        self.min_face_size: float = cascade["min_face_size"]
        self.thresholds: tuple[float, float, float] = tuple(cascade["thresholds"])
        self.factor: float = cascade["factor"]
        self.pnet = PNet()
        self.rnet = RNet()
        self.onet = ONet()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """[B, 3, H, W] float32, ``(pixel / 255 - 0.5) / (128 / 255)`` -> boxes [B, N, 4] (x1, y1, x2, y2 in the
        input's pixels), scores [B, N], classes [B, N] int64, landmarks [B, N, 5, 2] (x, y); N is the most faces
        in one image, each image's faces by descending score, padding rows all zero (score 0)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a [B, 3, H, W] batch of RGB images, got shape {list(images.shape)}")
        found = [self.detect(image) for image in images]
        return pack(found, images.new_zeros(()))

    def detect(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """One normalized [3, H, W] image -> its faces: [n, 5] (x1, y1, x2, y2, score), landmarks [n, 5, 2]."""
        batch = image.unsqueeze(0)
        boxes = self.propose(batch)
        boxes = self.refine(batch, boxes)
        return self.output(batch, boxes)

    def propose(self, batch: Tensor) -> Tensor:
        """Stage 1: PNet over the pyramid, NMS per scale then across scales, its box regression, squared boxes."""
        height, width = batch.shape[2:]
        found = []
        for scale in pyramid(height, width, self.min_face_size, self.factor):
            scaled = interpolate(batch, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
            offsets, probabilities = self.pnet(scaled)
            boxes = windows(offsets[0], probabilities[0, 1], scale, self.thresholds[0])
            found.append(boxes[self.suppress(boxes[:, :4], boxes[:, 4], PNET_SCALE_NMS)])
        if not found:  # smaller than one window: the package would fail on torch.cat([])
            return batch.new_zeros((0, 5))
        boxes = torch.cat(found)
        boxes = boxes[self.suppress(boxes[:, :4], boxes[:, 4], PNET_NMS)]
        width_, height_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        regressed = torch.stack([boxes[:, 0] + boxes[:, 5] * width_, boxes[:, 1] + boxes[:, 6] * height_,
                                 boxes[:, 2] + boxes[:, 7] * width_, boxes[:, 3] + boxes[:, 8] * height_, boxes[:, 4]], dim=1)
        return square(regressed)

    def refine(self, batch: Tensor, boxes: Tensor) -> Tensor:
        """Stage 2: RNet rescores 24 px crops; those above its threshold, deduplicated, regressed, squared."""
        if len(boxes) == 0:
            return boxes
        crops, inside = crop(batch[0], boxes, RNET_SIZE)
        boxes = boxes[inside]
        if len(boxes) == 0:
            return boxes
        offsets, probabilities = in_chunks(self.rnet, crops)
        passed = probabilities[:, 1] > self.thresholds[1]
        boxes = torch.cat([boxes[passed, :4], probabilities[passed, 1:]], dim=1)
        offsets = offsets[passed]
        pick = self.suppress(boxes[:, :4], boxes[:, 4], RNET_NMS)
        return square(regress(boxes[pick], offsets[pick]))

    def output(self, batch: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """Stage 3: ONet rescores 48 px crops and places landmarks; boxes regressed; 'Min' NMS last."""
        if len(boxes) == 0:
            return boxes, batch.new_zeros((0, 5, 2))
        crops, inside = crop(batch[0], boxes, ONET_SIZE)
        boxes = boxes[inside]
        if len(boxes) == 0:
            return boxes, batch.new_zeros((0, 5, 2))
        offsets, landmarks, probabilities = in_chunks(self.onet, crops)
        passed = probabilities[:, 1] > self.thresholds[2]
        boxes = torch.cat([boxes[passed, :4], probabilities[passed, 1:]], dim=1)
        landmarks, offsets = landmarks[passed], offsets[passed]
        width, height = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
        points = torch.stack([width[:, None] * landmarks[:, :5] + boxes[:, 0:1] - 1,
                              height[:, None] * landmarks[:, 5:] + boxes[:, 1:2] - 1], dim=2)
        boxes = regress(boxes, offsets)
        pick = self.suppress_min(boxes[:, :4], boxes[:, 4], ONET_NMS_MIN)
        return boxes[pick], points[pick]

    def suppress(self, boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
        """``nms``; a method so that a caller can time it on an instance (timing.py does)."""
        return nms(boxes, scores, threshold)

    def suppress_min(self, boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
        """``nms_min``; a method for the same reason."""
        return nms_min(boxes, scores, threshold)


def max_pool(pool: nn.MaxPool2d, x: Tensor) -> Tensor:
    """``pool(x)`` computed channels-last: the same maxima bit for bit, and several times faster on CPU than
    torch's NCHW max pooling on these shapes (ONet's first pool over 100 crops: ~90 ms -> ~6 ms, torch 2.13).
    Only the pooling: convolutions run channels-last round differently."""
    return pool(x.contiguous(memory_format=torch.channels_last)).contiguous()


def read_cascade(path: Path) -> dict:
    """The cascade's constants, checked: a typo or a missing key fails at load, not as a silent default."""
    cascade = json.loads(path.read_text(encoding="utf-8"))
    expected = {"min_face_size", "thresholds", "factor"}
    if not isinstance(cascade, dict) or set(cascade) != expected:
        raise ValueError(f"{path}: expected an object with exactly the keys {sorted(expected)}, got {cascade!r}")
    if not (isinstance(cascade["thresholds"], list) and len(cascade["thresholds"]) == 3):
        raise ValueError(f"{path}: thresholds: expected 3 numbers (PNet, RNet, ONet), got {cascade['thresholds']!r}")
    if not cascade["min_face_size"] >= CELL or not 0 < cascade["factor"] < 1:
        raise ValueError(f"{path}: min_face_size must be >= {CELL} and 0 < factor < 1, got {cascade!r}")
    return cascade


def pyramid(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """The scales PNet runs at: a face of ``min_face_size`` px becomes PNet's 12 px window at the first, and each
    next is ``factor`` times smaller until the image's short side would drop below 12 px."""
    scale = CELL / min_face_size
    short = min(height, width) * scale
    scales = []
    while short >= CELL:
        scales.append(scale)
        scale = scale * factor
        short = short * factor
    return scales


def windows(offsets: Tensor, probability: Tensor, scale: float, threshold: float) -> Tensor:
    """PNet's windows with face probability >= threshold as [n, 9]: x1, y1, x2, y2 in the image, score, then
    the four offsets (generateBoundingBox; rows in row-major order of the windows)."""
    where = (probability >= threshold).nonzero()
    corner = where.type(offsets.dtype).flip(1)  # (x, y) of the window's cell
    score = probability[where[:, 0], where[:, 1]]
    offsets = offsets[:, where[:, 0], where[:, 1]].permute(1, 0)
    first = ((STRIDE * corner + 1) / scale).floor()
    last = ((STRIDE * corner + CELL - 1 + 1) / scale).floor()
    return torch.cat([first, last, score.unsqueeze(1), offsets], dim=1)


def regress(boxes: Tensor, offsets: Tensor) -> Tensor:
    """bbreg: move each side by its offset times the box's size (inclusive pixel sizes, +1)."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    moved = torch.stack([boxes[:, 0] + offsets[:, 0] * width, boxes[:, 1] + offsets[:, 1] * height,
                         boxes[:, 2] + offsets[:, 2] * width, boxes[:, 3] + offsets[:, 3] * height], dim=1)
    return torch.cat([moved, boxes[:, 4:]], dim=1)


def square(boxes: Tensor) -> Tensor:
    """rerec: each box grown to a square around its centre, side = its longer side."""
    height = boxes[:, 3] - boxes[:, 1]
    width = boxes[:, 2] - boxes[:, 0]
    side = torch.max(width, height)
    x1 = boxes[:, 0] + width * 0.5 - side * 0.5
    y1 = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side, *boxes[:, 4:].unbind(1)], dim=1)


def crop(image: Tensor, boxes: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """The boxes' pixels, clipped to the image (pad) and each area-resampled to size x size, and which boxes
    had any pixel inside (the package fails on a box wholly outside; here it is dropped)."""
    height, width = image.shape[1:]
    corners = boxes[:, :4].trunc().int()
    x, y = corners[:, 0].clamp(min=1).tolist(), corners[:, 1].clamp(min=1).tolist()
    ex, ey = corners[:, 2].clamp(max=width).tolist(), corners[:, 3].clamp(max=height).tolist()
    inside = [ey[k] > y[k] - 1 and ex[k] > x[k] - 1 for k in range(len(x))]
    crops = [interpolate(image[None, :, y[k] - 1:ey[k], x[k] - 1:ex[k]], size=(size, size), mode="area")
             for k in range(len(x)) if inside[k]]
    crops = torch.cat(crops) if crops else image.new_zeros((0, 3, size, size))
    return crops, torch.tensor(inside, dtype=torch.bool, device=image.device)


def in_chunks(net: nn.Module, crops: Tensor) -> tuple[Tensor, ...]:
    """The net over (at least one) crops, CHUNK at a time, as the package runs it (bounded memory)."""
    outputs = [net(crops[start:start + CHUNK]) for start in range(0, len(crops), CHUNK)]
    return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))


def nms(boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
    """torchvision.ops.nms's answer: indices of the kept boxes by descending score (ties: lower index first, its
    stable sort); a box is dropped when its float32 IoU with a kept, higher-scoring one is > threshold, compared
    in float64 as torchvision's kernel does (0.3 is not a float32: comparing in float32 keeps different boxes)."""
    order = torch.argsort(scores, descending=True, stable=True)
    x1, y1, x2, y2 = boxes[order].unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    alive = torch.arange(len(order), device=boxes.device)
    keep = []
    while len(alive):
        i, rest = alive[0], alive[1:]
        keep.append(i)
        inter = ((torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
                 * (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0))
        alive = rest[(inter / (areas[i] + areas[rest] - inter)).double() <= threshold]
    return order[torch.stack(keep)] if keep else order[:0]


def nms_min(boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
    """detect_face.nms_numpy with method 'Min': overlap is the intersection over the smaller box (areas with
    +1), a box is dropped when it is > threshold, compared in float32 as numpy compares a float32 array with a
    Python float; indices by descending score. Equal scores: the last of a stable ascending sort first; the
    package's np.argsort (quicksort, SIMD on some CPUs) orders them differently from one machine to another."""
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    alive = torch.argsort(scores, stable=True)
    keep = []
    while len(alive):
        i, rest = alive[-1], alive[:-1]
        keep.append(i)
        inter = ((torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest]) + 1).clamp(min=0)
                 * (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest]) + 1).clamp(min=0))
        alive = rest[inter / torch.minimum(areas[i], areas[rest]) <= threshold]
    return torch.stack(keep) if keep else alive


def pack(found: list[tuple[Tensor, Tensor]], like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each image's faces into [B, N, ...] tensors, N the most faces in one image, zero rows after the last."""
    most = max((len(boxes) for boxes, _ in found), default=0)
    boxes = like.new_zeros((len(found), most, 4))
    scores = like.new_zeros((len(found), most))
    points = like.new_zeros((len(found), most, 5, 2))
    for index, (image_boxes, image_points) in enumerate(found):
        count = len(image_boxes)
        boxes[index, :count] = image_boxes[:, :4]
        scores[index, :count] = image_boxes[:, 4]
        points[index, :count] = image_points
    classes = torch.zeros((len(found), most), dtype=torch.int64, device=like.device)
    return boxes, scores, classes, points
