"""Task model factories equivalent to Hugging Face's Perceiver task models, at paper or small size."""

from perceiver_io.tasks.flow import OpticalFlowConfig, build_optical_flow, tiled_flow
from perceiver_io.tasks.image import ImageClassifierConfig, build_image_classifier
from perceiver_io.tasks.multimodal import MultimodalAutoencoderConfig, build_multimodal_autoencoder
from perceiver_io.tasks.multimodal_chunks import autoencode_in_chunks
from perceiver_io.tasks.text import MaskedLMConfig, TextClassifierConfig, build_masked_lm, build_text_classifier

__all__ = [
    "ImageClassifierConfig",
    "MaskedLMConfig",
    "MultimodalAutoencoderConfig",
    "OpticalFlowConfig",
    "TextClassifierConfig",
    "autoencode_in_chunks",
    "build_image_classifier",
    "build_masked_lm",
    "build_multimodal_autoencoder",
    "build_optical_flow",
    "build_text_classifier",
    "tiled_flow",
]
