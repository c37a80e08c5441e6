"""Input adapters (preprocessors): bytes, images, audio, labels, optical flow, multimodal, entity sets."""

from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.adapters.entity import EntitySetAdapter

__all__ = ["AdaptedInput", "EntitySetAdapter", "InputAdapter"]
