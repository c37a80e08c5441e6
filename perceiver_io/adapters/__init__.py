"""Input adapters (preprocessors): bytes, images, audio, labels, optical flow, multimodal, entity sets."""

from perceiver_io.adapters.audio import AudioAdapter
from perceiver_io.adapters.base import AdaptedInput, InputAdapter
from perceiver_io.adapters.entity import EntitySetAdapter
from perceiver_io.adapters.flow import FlowAdapter
from perceiver_io.adapters.image import ImageAdapter
from perceiver_io.adapters.label import OneHotAdapter
from perceiver_io.adapters.multimodal import MultimodalAdapter
from perceiver_io.adapters.text import TextAdapter

__all__ = [
    "AdaptedInput",
    "AudioAdapter",
    "EntitySetAdapter",
    "FlowAdapter",
    "ImageAdapter",
    "InputAdapter",
    "MultimodalAdapter",
    "OneHotAdapter",
    "TextAdapter",
]
