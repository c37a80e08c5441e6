"""Video + audio + label autoencoding (Kinetics-700), the Perceiver IO paper's multimodal task."""

from __future__ import annotations

from dataclasses import dataclass, field

from perceiver_io.adapters.audio import AudioAdapter
from perceiver_io.adapters.image import ImageAdapter
from perceiver_io.adapters.label import OneHotAdapter
from perceiver_io.adapters.multimodal import MultimodalAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.basic import BasicDecoder
from perceiver_io.decoders.multimodal import MultimodalDecoder, MultimodalPostprocessor
from perceiver_io.decoders.postprocessors import (
    AudioPostprocessor,
    ClassificationPostprocessor,
    ProjectionPostprocessor,
)
from perceiver_io.decoders.video import VideoAutoencodingDecoder
from perceiver_io.model import PerceiverIO


@dataclass
class MultimodalAutoencoderConfig:
    """Sizes of the multimodal autoencoder; modality keys are ``audio``, ``image`` and ``label``.

    Video [B, T, 3, H, W] is cut into 4x4 patches with 3-D Fourier features whose resolution is
    ``(num_frames, image_position_resolution, image_position_resolution)`` (HF's ``config.image_size``);
    audio [B, num_frames * audio_samples_per_frame] into patches of ``samples_per_patch`` with 1-D
    Fourier features; the label is one one-hot token, replaced by a mask token with ``mask_probs``.
    The decoder emits ``output_num_channels`` per query, projected to RGB, audio patches and logits.
    """

    encoder: EncoderConfig
    num_frames: int = 16
    image_size: int = 224
    image_position_resolution: int = 56
    spatial_downsample: int = 4
    image_num_bands: int = 32
    audio_samples_per_frame: int = 1920
    samples_per_patch: int = 16
    audio_num_bands: int = 192
    num_classes: int = 700
    input_padding: int = 4
    query_padding: int = 2
    output_num_channels: int = 512
    label_query_channels: int = 1024
    mask_probs: dict[str, float] = field(default_factory=lambda: {"audio": 0.0, "image": 0.0, "label": 1.0})

    @property
    def audio_samples(self) -> int:
        return self.num_frames * self.audio_samples_per_frame

    @property
    def video_shape(self) -> tuple[int, int, int]:
        """(frames, height, width) of the decoded video."""
        return (self.num_frames, self.image_size, self.image_size)

    @classmethod
    def paper(cls, **overrides) -> MultimodalAutoencoderConfig:
        """HF ``deepmind/multimodal-perceiver``: 784 x 512 latents, 8 self-attends (8 heads), 1 cross head."""
        encoder = EncoderConfig(
            num_latents=784,
            d_latents=512,
            num_blocks=1,
            num_self_attends_per_block=8,
            num_self_attention_heads=8,
            num_cross_attention_heads=1,
            attention_dropout=0.1,
        )
        return cls(**{"encoder": encoder, **overrides})

    @classmethod
    def small(cls, **overrides) -> MultimodalAutoencoderConfig:
        """A CPU-sized clip: 4 frames of 16x16 pixels, 64 audio samples, 10 classes."""
        base = dict(
            encoder=EncoderConfig.small(num_latents=16, d_latents=32, num_self_attention_heads=2),
            num_frames=4,
            image_size=16,
            image_position_resolution=4,
            image_num_bands=4,
            audio_samples_per_frame=16,
            samples_per_patch=4,
            audio_num_bands=8,
            num_classes=10,
            output_num_channels=32,
            label_query_channels=48,
        )
        return cls(**{**base, **overrides})


def build_multimodal_autoencoder(config: MultimodalAutoencoderConfig) -> PerceiverIO:
    """Audio/video/label autoencoder; call it with ``{"audio", "image", "label"}`` inputs -> dict of outputs.

    As in HF, the config's ``cross_attention_shape_for_attention`` also sizes the decoder's attention.
    """
    enc = config.encoder
    video_pos = {
        "num_bands": config.image_num_bands,
        "max_resolution": (
            config.num_frames,
            config.image_position_resolution,
            config.image_position_resolution,
        ),
    }
    audio_pos = {"num_bands": config.audio_num_bands, "max_resolution": (config.audio_samples,)}
    adapter = MultimodalAdapter(
        {
            "audio": AudioAdapter(config.samples_per_patch, position_encoding_kwargs=audio_pos),
            "image": ImageAdapter(
                prep_type="patches",
                in_channels=3,
                spatial_downsample=config.spatial_downsample,
                temporal_downsample=1,
                position_encoding="fourier",
                position_encoding_kwargs=video_pos,
            ),
            "label": OneHotAdapter(config.num_classes),
        },
        min_padding_size=config.input_padding,
        mask_probs=config.mask_probs,
    )
    queries = {
        "audio": BasicDecoder(
            enc.d_latents,
            config.output_num_channels,
            output_index_dims=(config.audio_samples // config.samples_per_patch,),
            position_encoding="fourier",
            position_encoding_kwargs=audio_pos,
            queries_only=True,
        ),
        "image": VideoAutoencodingDecoder(
            enc.d_latents,
            config.output_num_channels,
            output_shape=config.video_shape,
            position_encoding_kwargs=video_pos,
            queries_only=True,
        ),
        "label": BasicDecoder(
            enc.d_latents,
            config.output_num_channels,
            output_index_dims=1,
            position_encoding="trainable",
            position_encoding_kwargs={"index_dims": 1, "num_channels": config.label_query_channels},
            queries_only=True,
        ),
    }
    decoder = MultimodalDecoder(
        enc.d_latents,
        queries,
        config.output_num_channels,
        min_padding_size=config.query_padding,
        shape_for_attention=enc.cross_attention_shape_for_attention,
        dropout=enc.attention_dropout,
    )
    postprocessor = MultimodalPostprocessor(
        {
            "audio": AudioPostprocessor(config.output_num_channels, config.samples_per_patch),
            "image": ProjectionPostprocessor(config.output_num_channels, 3),
            "label": ClassificationPostprocessor(config.output_num_channels, config.num_classes),
        }
    )
    return PerceiverIO(enc, input_adapter=adapter, decoder=decoder, postprocessor=postprocessor)
