"""Edit stabilisation over time: each face's *change* (model output − input crop) is blended with the previous
frame's stabilised change, warped through the known crop-to-crop motion, so the edit does not flicker.

Blending the change rather than the output keeps the current frame's own pixels (expressions, lighting): only
the model's frame-to-frame disagreement is damped. Where the two changes disagree strongly (an occlusion, a
new expression) the current one wins, so nothing ghosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..faces.align import AlignmentSpec, invert_affine, similarity_transform
from ..faces.types import FaceDetection


def warp_change(change: np.ndarray, to_previous: np.ndarray) -> np.ndarray:
    """Resample a float ``(S, S, 3)`` change image: output pixel ``p`` takes ``change`` at ``to_previous @ p``.

    Args:
        change: the previous frame's change in its crop space.
        to_previous: ``(2, 3)`` current crop pixels → previous crop pixels.

    Returns:
        The change in the current crop's space, ``(S, S, 3)`` float32 (0 outside the previous crop).
    """
    side = change.shape[0]
    channels = [
        Image.fromarray(np.ascontiguousarray(change[..., c], np.float32), "F").transform(
            (side, side), Image.Transform.AFFINE, tuple(to_previous.ravel()), Image.Resampling.BILINEAR
        )
        for c in range(change.shape[2])
    ]
    return np.stack([np.asarray(channel, np.float32) for channel in channels], -1)


class TemporalStabiliser:
    """Per-track state for blending each face's change with its previous one.

    Args:
        strength: ``0`` off … ``<1``: weight of the previous (warped) change (an exponential moving average).
        tolerance: grey levels; where the current and previous changes differ by much more, the current wins.
    """

    def __init__(self, strength: float = 0.6, tolerance: float = 24.0) -> None:
        if not 0.0 <= strength < 1.0:
            from ..errors import AgeshiftError

            raise AgeshiftError(f"stabilise strength must be in [0, 1), got {strength}")
        self.strength, self.tolerance = strength, tolerance
        self._state: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def forget(self, keep: Sequence[int]) -> None:
        """Drop the state of tracks not in ``keep``."""
        self._state = {key: value for key, value in self._state.items() if key in keep}

    def blend(
        self, track_id: int, crop: Image.Image, output: Image.Image, matrix: np.ndarray, raw: np.ndarray
    ) -> Image.Image:
        """The stabilised output crop of one face in one frame.

        Args:
            track_id: the face's track.
            crop: the aligned input crop (RGB, ``S × S``).
            output: the model's output for it (RGB, same size).
            matrix: ``(2, 3)`` frame pixels → this crop's pixels.
            raw: ``(5, 2)`` unsmoothed landmarks of this frame (for the scene motion since the last frame).

        Returns:
            ``crop + stabilised change`` as an RGB crop.
        """
        current = np.asarray(output, np.float32) - np.asarray(crop, np.float32)
        change = self.stabilise_change(track_id, current, matrix, raw)
        pixels = np.clip(np.asarray(crop, np.float32) + change, 0, 255).round().astype(np.uint8)
        return Image.fromarray(pixels)

    def stabilise_change(
        self, track_id: int, current: np.ndarray, matrix: np.ndarray, raw: np.ndarray
    ) -> np.ndarray:
        """One face's change this frame, blended with its previous (warped) change.

        Args:
            track_id: the face's track.
            current: ``(S, S, 3)`` float change the model made in this frame's crop (grey levels).
            matrix: ``(2, 3)`` frame pixels → this crop's pixels.
            raw: ``(5, 2)`` unsmoothed landmarks of this frame.

        Returns:
            The stabilised ``(S, S, 3)`` float32 change (also kept as the track's state).
        """
        change = np.asarray(current, np.float32)
        if track_id in self._state and self.strength > 0:
            previous_change, previous_matrix, previous_raw = self._state[track_id]
            # crop_t(p) = frame_t(M_t⁻¹ p) = frame_{t-1}(S M_t⁻¹ p) = crop_{t-1}(M_{t-1} S M_t⁻¹ p)
            scene = similarity_transform(raw, previous_raw)
            to_previous = _compose(previous_matrix, _compose(scene, invert_affine(matrix)))
            warped = warp_change(previous_change, to_previous)
            disagreement = np.abs(change - warped).mean(-1, keepdims=True)
            weight = self.strength * np.exp(-((disagreement / self.tolerance) ** 2))
            change = (1.0 - weight) * change + weight * warped
        self._state[track_id] = (change, matrix, np.asarray(raw, np.float64))
        return change


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` for ``(2, 3)`` affine matrices."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


class StabilisedTranslator:
    """A translator proxy for :func:`~ageshift.faces.age_photo` that stabilises each face's edit over time.

    Before each frame, :meth:`expect` gives it the frame's faces in the order ``age_photo`` will crop them; its
    ``translate`` then runs the real model and blends each output with that track's previous change. A
    change-predicting model (``predicts_delta``) is stabilised in :meth:`predict_delta` instead, so ``age_photo``
    still adds the stabilised change at each face's real size. Every other attribute is the wrapped translator's.

    Args:
        translator: the model (or chain) to run.
        stabiliser: the per-track state.
    """

    def __init__(self, translator: Any, stabiliser: TemporalStabiliser) -> None:
        self._translator = translator
        self._stabiliser = stabiliser
        self._spec = AlignmentSpec.from_metadata(translator.metadata, translator.image_size)
        self._faces: list[tuple[int, FaceDetection, np.ndarray]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._translator, name)

    def expect(self, faces: Sequence[tuple[int, FaceDetection, np.ndarray]]) -> None:
        """The next frame's faces: ``(track_id, smoothed detection, raw landmarks)`` in ``age_photo``'s order."""
        self._faces = list(faces)
        self._stabiliser.forget([track_id for track_id, _, _ in faces])

    def translate(self, crops: Any, **request: Any) -> Any:
        """Translate like the wrapped model, then stabilise each crop (a list of PIL crops in, the same out)."""
        outputs = self._translator.translate(crops, **request)
        if not isinstance(crops, list) or len(crops) != len(self._faces):
            return outputs
        points = self._spec.points()
        return [
            self._stabiliser.blend(
                track_id, crop, output, similarity_transform(detection.landmarks, points), raw
            )
            for crop, output, (track_id, detection, raw) in zip(crops, outputs, self._faces, strict=True)
        ]

    def predict_delta(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        """The wrapped model's change per crop, each blended with its track's previous change.

        Args:
            images: ``(B, 3, S, S)`` aligned crops, RGB float in ``[-1, 1]``, in ``age_photo``'s order.
            *args, **kwargs: the wrapped ``predict_delta``'s ages and strength.

        Returns:
            ``(B, 3, S, S)`` float32 stabilised change in ``[-1, 1]`` units, at the crops' size.
        """
        import torch

        deltas = self._translator.predict_delta(images, *args, **kwargs)
        if deltas.shape[-2:] != images.shape[-2:]:  # the stabiliser works in the crops' own frame
            deltas = torch.nn.functional.interpolate(
                deltas, size=tuple(images.shape[-2:]), mode="bilinear", align_corners=False
            )
        if len(images) != len(self._faces):
            return deltas
        points = self._spec.points()
        stabilised = [
            self._stabiliser.stabilise_change(
                track_id,
                delta.permute(1, 2, 0).numpy() * 127.5,
                similarity_transform(detection.landmarks, points),
                raw,
            )
            for delta, (track_id, detection, raw) in zip(deltas, self._faces, strict=True)
        ]
        return torch.from_numpy(np.stack(stabilised)).permute(0, 3, 1, 2) / 127.5
