"""Where the crop window sits: finding the face, fitting a small one, following a moving one.

1. **Finding.** Frames are searched in order with MediaPipe's full-range face
   detector (:mod:`facecam.face.detect`); the first frame where it finds a box and
   Face Mesh confirms it on a window around that box gives the face and its nose tip.
   Of several people the largest face is taken, or with ``--face X,Y`` the one nearest
   that point; a note says where each face is, and the builder has Face Mesh follow
   the chosen one. With no upright face, a few frames are searched again turned, so
   the error can name the ``--rotate`` that shows one.
2. **Fitting** (``--framing auto``). The reference crop (:func:`~facecam.video.crop.reference_crop`)
   keeps the whole frame's scale, so a face far from the camera stays small in it.
   The model saw faces filling about :data:`FACE_SHARE` of the crop's height; when the
   face fills less than :data:`FIT_BELOW` of that, the window shrinks (the frame is
   scaled up) until the face fills :data:`FACE_SHARE`. Black letterbox or pillarbox
   bars (:func:`~facecam.video.crop.content_area`) are kept out of the window: a bar
   inside it would turn into black wedges when the camera moves. ``--framing reference``
   keeps the reference crop, bars included.
3. **Following** (``--track``). The face box is found in every frame, its path
   smoothed over :data:`TRACK_SMOOTH_S` seconds, and the window moves with it (each
   frame's window clamped to the frame). Only a face that looks like the chosen one
   (its colours, :data:`SAME_LOOKS`) is followed: someone crossing in front or standing
   where the chosen person stood is passed over, and a loss longer than
   :data:`TRACK_LOST_S` is warned about. Without it one window serves every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import FacecamError, NoFaceError
from ..face.detect import FaceBox, _boxes, detect_face_boxes, face_detector, landmarks_in_box, nearest_box
from ..face.landmarks import MANY_FACES, NOSE_TIP, face_mesh
from ..video.crop import CropBox, content_area, reference_crop
from ..video.io import VideoClip

# Face-box height / crop height in the reference crop of the authors' samples (facecam_000: 0.200,
# facecam_007: 0.257; median 0.228, benchmarks/face_share.py): the framing the model was trained on.
FACE_SHARE = 0.23
FIT_BELOW = 0.6  # fit the crop when the face fills less than this share of FACE_SHARE
FRAMINGS = ("auto", "reference")
TRACK_SMOOTH_S = 1.0  # seconds of the centred smoothing window of --track
TRACK_WINDOW = 4.0  # side of the window searched around the last face in each frame, in face-box sides


@dataclass
class Framing:
    """The crop windows of a clip and why they were chosen.

    Attributes:
        boxes: one :class:`CropBox` per frame (all the same without ``track``).
        mode: ``reference`` (the reference crop) or ``fitted`` (scaled up around a small face).
        face_frame: index of the first frame with a face.
        face_box: the detector's face box in that frame (pixels of the original frame).
        face_share: face-box height / crop height in the chosen crop.
        reference_share: the same in the reference crop.
        track: whether the windows follow the face.
        frame_hw: ``(height, width)`` of the original frames.
        content: ``(x0, y0, x1, y1)`` of the frame without its letterbox bars, or None.
        faces: faces found in the face's first frame (one was chosen, :func:`find_face`).
        nose: the chosen face's nose tip in that frame (pixels of the original frame).
        roll: degrees the top of that face is turned clockwise from upright (:func:`face_roll`), or 180 when the
            picture looks upside down (:func:`looks_upside_down`; Face Mesh fits such a face upright).
        upside_down: the detector's mean scores ``(as is, turned 180)`` when the picture looks upside down.
    """

    boxes: list[CropBox]
    mode: str
    face_frame: int
    face_box: FaceBox
    face_share: float
    reference_share: float
    track: bool
    frame_hw: tuple[int, int]
    content: Optional[tuple[int, int, int, int]] = None
    faces: int = 1
    nose: Optional[tuple[float, float]] = None
    roll: float = 0.0
    upside_down: Optional[tuple[float, float]] = None

    def nose_in_crop(self) -> tuple[float, float]:
        """The chosen face's nose tip in pixels of the cropped frames (its first frame's crop)."""
        box = self.boxes[self.face_frame]
        sx, sy = box.resized_w / self.frame_hw[1], box.resized_h / self.frame_hw[0]
        return self.nose[0] * sx - box.left, self.nose[1] * sy - box.top

    def centers(self) -> np.ndarray:
        """``(T, 2)`` centre of each frame's window, pixels of the original frame."""
        windows = np.array([box.window(self.frame_hw) for box in self.boxes])
        return windows[:, :2] + windows[:, 2:] / 2

    def describe(self, fps: float) -> dict:
        """JSON-ready record (``framing`` in ``<name>_camera.json``)."""
        record = {"mode": self.mode, "face_frame": self.face_frame,
                  "face_second": round(self.face_frame / fps, 3) if fps else None,
                  "face_box": self.face_box.to_list(), "face_share": round(self.face_share, 3),
                  "reference_share": round(self.reference_share, 3), "target_share": FACE_SHARE,
                  "window": [round(v, 1) for v in self.boxes[0].window(self.frame_hw)], "track": self.track,
                  "faces": self.faces, "roll": round(self.roll, 1)}
        if self.nose is not None:
            record["nose_in_crop"] = [round(v, 1) for v in self.nose_in_crop()]  # the judge reads this face
        if self.content is not None:
            record["content"] = list(self.content)  # x0, y0, x1, y1: the frame without its letterbox bars
        if self.track:
            record["window_centers"] = np.round(self.centers(), 1).tolist()
        return record


# What the face detector needs, said with "no face found": a newcomer's sideways, tiny and overfilling faces
# were all told only to try --start.
LOOKS = "the detector finds a face upright, not on its side or upside down, not tiny and not cut off by the frame"


@dataclass(frozen=True)
class FaceFound:
    """The face a clip is re-angled around: the first frame with one, and which of the faces there.

    Attributes:
        frame: index of the first frame with a face.
        box: its face box (pixels of the original frame).
        points: ``(478, 3)`` Face Mesh landmarks of that face (original pixels).
        boxes: every face box found in that frame, largest first (``box`` is one of them).
    """

    frame: int
    box: FaceBox
    points: np.ndarray
    boxes: tuple[FaceBox, ...]


def find_face(clip: VideoClip, detector=None, face: Optional[tuple[float, float]] = None, rotate: int = 0) -> FaceFound:
    """The first frame with a face, and of several faces there the largest, or with ``face`` (fractions of the
    frame's width and height) the one whose centre is nearest that point. ``rotate`` is the ``--rotate`` the
    frames were read with: a turn the error suggests is counted from the file, not from these frames.

    Raises:
        NoFaceError: naming the span searched and suggesting ``--start``.
    """
    from ..video.io import is_image_path

    image = bool(clip.path) and is_image_path(clip.path)
    real = 1 if image else clip.real_frames  # held copies of the last frame add nothing
    own = detector is None
    detector = detector or face_detector()
    mesh = face_mesh(static=True, faces=MANY_FACES)
    try:
        for i, frame in enumerate(clip.frames[:real]):
            boxes = detect_face_boxes(frame, detector)
            if not boxes:
                continue
            h, w = frame.shape[:2]
            if face is None:
                box = boxes[0]
            else:
                point = (face[0] * w, face[1] * h)
                box = nearest_box(boxes, point)
                if not _near_point(box, point, (h, w)):  # a face too small for the whole frame may be there
                    boxes = detect_face_boxes(frame, detector, tiles=True)
                    box = nearest_box(boxes, point)
            points = landmarks_in_box(frame, box, mesh)
            if points is not None:
                return FaceFound(i, box, points, tuple(boxes))
    finally:
        mesh.close()
        if own:
            detector.close()
    if image:
        turned = _turned_face(clip.frames[:1])
        if turned:
            raise NoFaceError(f"no upright face found in the image {clip.path}, but one shows when it is turned "
                              f"{turned} deg clockwise{'' if not rotate else ' more'}: {_rotate_hint(turned, rotate)}")
        raise NoFaceError(f"no face found in the image {clip.path} (facecam re-angles a visible face: {LOOKS})")
    real = min(real, len(clip.frames))
    turned = _turned_face(clip.frames[:real])
    if turned:
        raise NoFaceError("no upright face found" + (f" in {clip.path}" if clip.path else "")
                          + f", but one shows when the picture is turned {turned} deg clockwise"
                          + f"{'' if not rotate else ' more'}: {_rotate_hint(turned, rotate)}")
    span = f"{real / clip.fps:.1f} s" if clip.fps else f"{real} frames"
    head = f"no face found in any of the {real} frames ({span}) searched" + (f" of {clip.path}" if clip.path else "") \
        + f" ({LOOKS})"
    error = NoFaceError(f"{head}; if the face appears later in the video, start there with --start SEC")
    # For the builder, which then looks further into the file and says what it found after ``head``.
    error.head, error.searched_s = head, (real / clip.fps if clip.fps else None)
    raise error


LOOK_AHEAD_S = 60.0  # after a clip with no face, this many more seconds of the file are searched for one ...
LOOK_AHEAD_FPS = 4.0  # ... at this many frames a second, then at FINE_FPS before the first sample with a face
FINE_FPS = 24.0


def face_later(path, after: float, rotate: int = 0, seconds: float = LOOK_AHEAD_S) -> tuple[Optional[float], float]:
    """``(time, searched)``: the first time in seconds from the file's start, at or after ``after``, where a face
    shows in the video at ``path`` (or None), and how far the search went (:data:`LOOK_AHEAD_S` at most). For
    "no face found" to name the ``--start`` that reaches the face (a newcomer's face 6 s in was told only to try
    ``--start SEC``). Decoding stops at the first face."""
    from pathlib import Path

    from ..video.io import _decode, rotate_turns

    detector = face_detector()
    mesh = face_mesh(static=True)
    reached = after

    def first_face(start: float, span: float, fps: float) -> Optional[int]:
        nonlocal reached
        frames = _decode(Path(path), fps, None, {}, start, span, (480, 480), rotate_turns(rotate))
        for i, frame in enumerate(frames):
            reached = max(reached, start + (i + 1) / fps)
            boxes = detect_face_boxes(frame, detector)
            if boxes and landmarks_in_box(frame, boxes[0], mesh) is not None:
                return i
        return None

    try:
        i = first_face(after, seconds, LOOK_AHEAD_FPS)
        if i is None:
            return None, reached
        found = after + i / LOOK_AHEAD_FPS
        if i > 0:  # between the coarse samples, at 24 fps: the --start named is where the face shows, not
            # up to a quarter second later (a shot's cut was named at 2.00 s, its face at 2.21)
            gap = found - 1.0 / LOOK_AHEAD_FPS
            fine = first_face(gap, 1.0 / LOOK_AHEAD_FPS, FINE_FPS)
            if fine is not None:
                found = gap + fine / FINE_FPS
        return found, reached
    finally:
        mesh.close()
        detector.close()


def _rotate_hint(turned: int, rotate: int) -> str:
    """What to pass when the frames read with ``--rotate rotate`` need ``turned`` more clockwise degrees."""
    total = (rotate + turned) % 360
    if not rotate:
        return f"add --rotate {total}"
    return f"--rotate {total} instead of {rotate}" if total else f"leave out --rotate {rotate}"


TURN_SAMPLES = 5  # frames of a clip with no upright face searched again turned (spread over what was searched)


def _turned_face(frames) -> Optional[int]:
    """Clockwise degrees (90, 180 or 270) that turn a face in ``frames`` upright, or None: searched, after no
    upright face was found, on a few frames turned each way (a video filmed on its side without a flag). As in
    :func:`find_face`, Face Mesh must confirm the detector's box (a coffee cup turned on its side is no face);
    of the turns that show a face, the one that shows it most nearly upright (the detector also finds a face
    lying on its side)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(TURN_SAMPLES, len(frames))).round().astype(int))
    detector = face_detector()
    mesh = face_mesh(static=True)
    try:
        for index in picks:
            upright = {}
            for clockwise in (90, 180, 270):
                turned = np.ascontiguousarray(np.rot90(frames[int(index)], -clockwise // 90))
                boxes = detect_face_boxes(turned, detector)
                points = landmarks_in_box(turned, boxes[0], mesh) if boxes else None
                if points is not None:
                    upright[clockwise] = abs(face_roll(points))
            if upright:
                return min(upright, key=upright.get)
    finally:
        mesh.close()
        detector.close()
    return None


# The detector finds faces turned up to 180 deg (scores 0.7-0.9 on two of the shared clips turned upside down),
# and Face Mesh then fits an upright mesh to an upside-down face (a newcomer's upside-down clip ran with a roll
# of 8 deg and came out upside down). So the picture is taken for upside down when the detector scores the frames
# turned 180 deg higher than as they are in at least :data:`UPSIDE_DOWN_VOTES` of the frames sampled and by this
# much on average. On the six shared clips (benchmarks/upside_down.py, 9 frames) the difference is -0.89 to -0.09
# upright and +0.09 to +0.89 turned, in 0-3 and 6-9 of the 9 frames: a thin margin on two of them, so a warning,
# with the scores, not an error.
UPSIDE_DOWN_MARGIN = 0.05
UPSIDE_DOWN_VOTES = 2 / 3
UPSIDE_DOWN_SAMPLES = 9


def detector_scores(frames, detector) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of ``frames``, the detector's best score as it is and turned 180 deg (0 where none)."""
    def best(image):
        return max((b.score for b in _boxes(np.ascontiguousarray(image), detector)), default=0.0)

    return (np.array([best(frame) for frame in frames]), np.array([best(frame[::-1, ::-1]) for frame in frames]))


def looks_upside_down(frames, detector) -> Optional[tuple[float, float]]:
    """``(upright, turned)`` mean detector scores when the picture in ``frames`` (a few, spread over the clip)
    looks upside down (:data:`UPSIDE_DOWN_MARGIN`), else None."""
    upright, turned = detector_scores(frames, detector)
    if (turned > upright).mean() >= UPSIDE_DOWN_VOTES and turned.mean() > upright.mean() + UPSIDE_DOWN_MARGIN:
        return float(upright.mean()), float(turned.mean())
    return None


SIDEWAYS = 50.0  # deg: a face turned further than this from upright is said to lie on its side


def face_roll(points: np.ndarray) -> float:
    """Degrees the top of a face is turned clockwise from upright in the picture (-180 to 180): the direction
    from the chin (landmark 152) to the top of the forehead (10)."""
    up = points[10, :2] - points[152, :2]
    return float(np.degrees(np.arctan2(up[0], -up[1])))


def sideways_rotate(roll: float) -> int:
    """The ``--rotate`` (clockwise degrees) that turns a face of ``roll`` nearest to upright."""
    return int(round(-roll / 90.0)) % 4 * 90


# --face X,Y names a face whose centre is within this many face-box sides of the point, or within this share of
# the frame's diagonal (a point on a small face's body rather than on the face itself), but never further than
# the last share of the diagonal: a close-up's face box is so large that 1.5 of its sides took in the whole
# frame, and --face 0.95,0.95 on lp_d0 (its face centred at 0.50,0.59) chose that face without a word.
FACE_POINT_NEAR = (1.5, 0.1, 0.25)


def _near_point(box: FaceBox, point: tuple[float, float], frame_hw: tuple[int, int]) -> bool:
    sides, share, most = FACE_POINT_NEAR
    diagonal = float(np.hypot(*frame_hw))
    reach = min(max(sides * max(box.width, box.height), share * diagonal), most * diagonal)
    return np.hypot(box.center[0] - point[0], box.center[1] - point[1]) <= reach


def note_faces(found: FaceFound, frame_hw: tuple[int, int], face: Optional[tuple[float, float]]) -> None:
    """One note line when the first face's frame shows several people: which face is re-angled, and how to
    choose another (a newcomer's two-person clip re-angled one of them without a word); a warning when
    ``--face`` points where no face was found (it was passed over without a word)."""
    import logging

    h, w = frame_hw
    cx, cy = found.box.center
    if face is not None and not _near_point(found.box, (face[0] * w, face[1] * h), frame_hw):
        others = len(found.boxes) - 1
        logging.getLogger("facecam").warning(
            f"facecam: warning: no face found near --face {face[0]:g},{face[1]:g} in frame {found.frame}; "
            f"re-angling the nearest face found, centred at {cx / w:.2f},{cy / h:.2f} of the frame "
            f"({found.box.height:.0f} px tall)" + (f", of {others + 1} faces" if others else ", the only one")
            + "; a face the detector misses (too small, turned away, hidden) cannot be chosen")
        return
    if len(found.boxes) < 2:
        return
    chosen = "the largest" if face is None else f"the one nearest --face {face[0]:g},{face[1]:g}"
    others = ", ".join(f"{b.center[0] / w:.2f},{b.center[1] / h:.2f}" for b in found.boxes if b != found.box)
    logging.getLogger("facecam").warning(
        f"facecam: note: {len(found.boxes)} faces in frame {found.frame}; re-angling {chosen}, centred at "
        f"{cx / w:.2f},{cy / h:.2f} of the frame ({found.box.height:.0f} px tall); to pick another, give --face "
        f"a point near it as fractions of the frame's width and height (the others: {others})")


def frame_face(clip: VideoClip, size: tuple[int, int], framing: str = "auto", track: bool = False,
               face: Optional[tuple[float, float]] = None, rotate: int = 0,
               cuts: Optional[list[int]] = None) -> Framing:
    """Choose the crop windows of ``clip`` for an output of ``size`` ``(H, W)`` (see the module docstring);
    ``face`` picks one of several people and ``rotate`` is the ``--rotate`` it was read with (:func:`find_face`);
    ``cuts``: the clip's cuts when the caller has found them (:func:`~facecam.video.cuts.find_cuts`; found here
    for ``track`` otherwise).
    ``roll`` is 180 when the whole picture looks upside down (:func:`looks_upside_down`), whatever Face Mesh
    fitted."""
    if framing not in FRAMINGS:
        raise FacecamError(f"--framing must be auto or reference, got {framing!r}")
    frame_hw = clip.frames.shape[1:3]
    # auto: letterbox bars are left out of the window (the reference crop keeps them, as the authors' does).
    content = content_area(clip.frames[:max(1, clip.source_frames)]) if framing == "auto" else None
    if content == (0, 0, frame_hw[1], frame_hw[0]):
        content = None
    detector = face_detector()
    try:
        found = find_face(clip, detector, face, rotate)
        note_faces(found, frame_hw, face)
        roll, upside_down = face_roll(found.points), None
        if abs(roll) <= SIDEWAYS:
            real = clip.real_frames
            picks = np.linspace(found.frame, real - 1, min(UPSIDE_DOWN_SAMPLES, real - found.frame)).round()
            upside_down = looks_upside_down(clip.frames[np.unique(picks).astype(int)], detector)
            if upside_down:
                roll = 180.0
        index, chosen = found.frame, found.box
        nose = np.array(found.points[NOSE_TIP, :2], np.float64)
        reference = reference_crop(frame_hw, tuple(nose), size)
        reference_share = chosen.height * reference.resized_h / frame_hw[0] / size[0]
        zoom = 1.0
        if framing == "auto" and reference_share < FIT_BELOW * FACE_SHARE:
            zoom = FACE_SHARE / reference_share
        if track:
            if cuts is None:
                from ..video.cuts import find_cuts

                cuts = find_cuts(clip.frames[:clip.real_frames])
            centers, lost = _face_path(clip, index, chosen, detector, cuts)
            _warn_track_lost(lost, clip)
            path = nose + centers - centers[index]  # the nose-centred window at the face's first frame, then its moves
        else:
            path = np.repeat(nose[None], clip.num_frames, axis=0)
    finally:
        detector.close()
    boxes = [reference_crop(frame_hw, (float(x), float(y)), size, zoom, content) for x, y in path]
    share = chosen.height * boxes[index].resized_h / frame_hw[0] / size[0]
    return Framing(boxes, "fitted" if zoom > 1 else "reference", index, chosen, share, reference_share, track,
                   tuple(frame_hw), content, len(found.boxes), (float(nose[0]), float(nose[1])), roll, upside_down)


def _face_path(clip: VideoClip, start: int, face: FaceBox, detector,
               cuts: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``(T, 2)`` smoothed face-box centre per frame (frames before ``start`` hold its centre), and the spans
    ``(first, last)`` of frames where the chosen face was not found.

    Each frame is searched on a window around the last face (where a small face is large enough for the
    detector), then on the whole frame. Only a face that looks like the chosen one is taken
    (:func:`_same_face`): another person crossing in front, or standing where the chosen one stood after a cut
    or an exit, is passed over. Frames where the face is lost are interpolated from their neighbours (held at
    the ends). Each shot (between ``cuts``, :func:`~facecam.video.cuts.find_cuts`) is interpolated and smoothed
    alone.
    """
    centers = np.full((clip.num_frames, 2), np.nan)
    centers[:start + 1] = face.center
    first = _looks(clip.frames[start], face)
    last, last_looks = face, first
    for i in range(start + 1, clip.num_frames):
        found = _box_near(clip.frames[i], last, detector, (first, last_looks))
        if found is not None:
            centers[i], last = found[0].center, found[0]
            last_looks = found[1]
    lost = _spans(np.isnan(centers[:, 0]))
    # Shot by shot: at a cut the window jumps with the face instead of gliding across the frame for a second.
    bounds = [0, *cuts, clip.num_frames]
    path = np.empty_like(centers)
    for a, b in zip(bounds[:-1], bounds[1:]):
        known = np.flatnonzero(~np.isnan(centers[a:b, 0]))
        if not len(known):  # a shot where the face was never found holds where it was last
            path[a:b] = path[a - 1]
            continue
        t = np.arange(b - a)
        shot = np.stack([np.interp(t, known, centers[a:b][known, k]) for k in range(2)], axis=1)
        path[a:b] = _smooth(shot, clip.fps)
    return path, lost


# Bhattacharyya distance between hue-saturation histograms of the middle of two face boxes above which they are
# taken for different people. Measured on a newcomer's crossing clip (benchmarks/track_faces.py), against the
# chosen face's first frame: the same face 0.00-0.16 while clear, 0.23-0.53 while partly hidden behind the
# other person; the other person 0.73-0.76.
SAME_LOOKS = 0.5
SAME_SIZE = 2.0  # a face box more than this many times larger or smaller than the last one is another face


def _looks(frame: np.ndarray, box: FaceBox) -> np.ndarray:
    """Hue-saturation histogram (30 x 32 bins, sums to 1) of the middle 60% of a face box: skin, eyes and hair
    colour, which tell two people apart at any head pose."""
    import cv2

    h, w = frame.shape[:2]
    x0, x1 = int(max(0, box.x + 0.2 * box.width)), int(min(w, box.x + 0.8 * box.width))
    y0, y1 = int(max(0, box.y + 0.2 * box.height)), int(min(h, box.y + 0.8 * box.height))
    patch = frame[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    hist = cv2.calcHist([cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV)], [0, 1], None, [30, 32],
                        [0, 180, 0, 256])
    return hist / max(float(hist.sum()), 1.0)


def _same_face(looks: np.ndarray, known: tuple[np.ndarray, ...]) -> bool:
    """Whether a face of ``looks`` is the chosen one: near enough to how it looked first or last."""
    import cv2

    return min(cv2.compareHist(looks, k, cv2.HISTCMP_BHATTACHARYYA) for k in known) < SAME_LOOKS


def _box_near(frame: np.ndarray, last: FaceBox, detector, known: tuple[np.ndarray, ...]):
    """``(box, looks)`` of the chosen face in ``frame``, or None: the face nearest the last one that looks like
    it, searched on a window around the last face, then on the whole frame."""
    h, w = frame.shape[:2]
    half = TRACK_WINDOW * max(last.width, last.height) / 2
    cx, cy = last.center
    left, top = int(max(0, cx - half)), int(max(0, cy - half))
    right, bottom = int(min(w, cx + half)), int(min(h, cy + half))
    size = max(last.width, last.height)

    def pick(boxes):
        for box in sorted(boxes, key=lambda b: np.hypot(b.center[0] - cx, b.center[1] - cy)):
            if 1 / SAME_SIZE < max(box.width, box.height) / size < SAME_SIZE:
                looks = _looks(frame, box)
                if _same_face(looks, known):
                    return box, looks
        return None

    near = [FaceBox(b.x + left, b.y + top, b.width, b.height, b.score)
            for b in detect_face_boxes(frame[top:bottom, left:right], detector)]
    return pick(near) or pick(detect_face_boxes(frame, detector))


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of each run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(int(a), int(b) - 1) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


TRACK_LOST_S = 0.5  # --track warns when the chosen face is not found for longer than this


def _warn_track_lost(lost: list[tuple[int, int]], clip: VideoClip) -> None:
    """One warning naming where ``--track`` lost the chosen face for longer than :data:`TRACK_LOST_S` (it
    followed the other person through a crossing, an exit or a cut before it checked faces)."""
    fps = clip.fps or 24.0
    long = [(a, b) for a, b in lost if (b - a + 1) / fps > TRACK_LOST_S]
    if not long:
        return
    import logging

    end = clip.num_frames - 1
    spans = ", ".join(f"{a / fps:.1f} s to the end" if b == end else f"{a / fps:.1f}-{(b + 1) / fps:.1f} s"
                      for a, b in long)
    then = ("the window stays where the face was last seen" if long[-1][1] == end
            else "the window glides from where it was last seen to where it is seen again")
    logging.getLogger("facecam").warning(
        f"facecam: warning: --track lost the chosen face at {spans} (hidden, turned away, out of the frame, or "
        f"another shot; another person there is not followed); {then}")


def _smooth(path: np.ndarray, fps: float) -> np.ndarray:
    """Savitzky-Golay (quadratic) over about :data:`TRACK_SMOOTH_S` seconds: steady motion passes
    unchanged, detector jitter is averaged away."""
    from ..smoothing import savgol

    length = min(int(round((fps or 24.0) * TRACK_SMOOTH_S)), path.shape[0])
    length -= 1 - length % 2  # odd
    if length <= 3:
        return path
    return savgol(path, length, polyorder=2)
