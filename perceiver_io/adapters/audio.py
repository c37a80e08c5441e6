"""Audio adapter: raw waveform samples -> fixed-length patches with 1-D position features."""

from __future__ import annotations

import torch

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.checks import float_input
from perceiver_io.position_encoding import FourierPositionEncoding, build_position_encoding


class AudioAdapter(InputAdapter):
    """Cut [B, T] (or [B, T, 1]) samples into [B, T / samples_per_patch, samples_per_patch] tokens.

    Position features over the patch index (Fourier by default, or a trainable table) are concatenated
    to (``concat_or_add_pos="concat"``) or added to (``"add"``) each patch, as in HF/DeepMind's audio
    preprocessor with ``prep_type="patches"``.
    """

    def __init__(
        self,
        samples_per_patch: int = 96,
        position_encoding: str = "fourier",
        position_encoding_kwargs: dict | None = None,
        concat_or_add_pos: str = "concat",
    ) -> None:
        super().__init__()
        if samples_per_patch < 1:
            raise ValueError(f"samples_per_patch must be >= 1, got {samples_per_patch}")
        if concat_or_add_pos not in ("concat", "add"):
            raise ValueError(f"concat_or_add_pos must be 'concat' or 'add', got {concat_or_add_pos!r}")
        self.samples_per_patch = samples_per_patch
        self.concat_or_add_pos = concat_or_add_pos
        kwargs = dict(position_encoding_kwargs or {})
        self._project_pos_dim = kwargs.get("project_pos_dim", -1)
        self.position_encoding, self.position_projection = build_position_encoding(
            position_encoding, **kwargs
        )
        if concat_or_add_pos == "add" and self._pos_channels != samples_per_patch:
            raise ValueError(
                f"adding positions needs {samples_per_patch} position channels (samples_per_patch), "
                f"got {self._pos_channels}"
            )

    @property
    def _pos_channels(self) -> int:
        return self._project_pos_dim if self._project_pos_dim > 0 else self.position_encoding.num_channels

    @property
    def num_channels(self) -> int:
        if self.concat_or_add_pos == "add":
            return self._pos_channels
        return self.samples_per_patch + self._pos_channels

    def forward(self, inputs: torch.Tensor, **_: object) -> AdaptedInput:
        """``inputs`` [B, T] or [B, T, 1] with T divisible by ``samples_per_patch``."""
        if inputs.dim() == 3 and inputs.shape[-1] != 1 or inputs.dim() not in (2, 3):
            raise ValueError(
                f"audio must have shape [batch, samples] or [batch, samples, 1], got {tuple(inputs.shape)}"
            )
        inputs = float_input("audio", inputs, self)
        batch, samples = inputs.shape[:2]
        if samples % self.samples_per_patch:
            raise ValueError(
                f"audio of shape {tuple(inputs.shape)}: the number of samples must be divisible by "
                f"samples_per_patch={self.samples_per_patch}"
            )
        patches = inputs.reshape(batch, samples // self.samples_per_patch, self.samples_per_patch)
        num_patches = patches.shape[1]
        if isinstance(self.position_encoding, FourierPositionEncoding):
            pos = self.position_encoding((num_patches,), batch, device=inputs.device, dtype=inputs.dtype)
        else:
            pos = self.position_encoding(batch)
            if pos.shape[1] != num_patches:
                raise ValueError(
                    f"audio of shape {tuple(inputs.shape)} gives {num_patches} patches but the trainable "
                    f"position table has {pos.shape[1]} rows"
                )
        pos = self.position_projection(pos)
        tokens = torch.cat([patches, pos], dim=-1) if self.concat_or_add_pos == "concat" else patches + pos
        return AdaptedInput(tokens=tokens, without_pos=patches, index_dims=(num_patches,))
