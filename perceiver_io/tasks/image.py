"""ImageNet classification (Perceiver IO paper, Appendix A): config presets and the model factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from perceiver_io.adapters.image import ImageAdapter
from perceiver_io.config import EncoderConfig
from perceiver_io.decoders.classification import ClassificationDecoder
from perceiver_io.model import PerceiverIO

PREPROCESSINGS = ("learned", "fourier", "conv")


def _paper_encoder() -> EncoderConfig:
    """The ImageNet encoder of HF / DeepMind: 512 x 1024 latents, 6 self-attends x 8 blocks, 8 / 1 heads."""
    return EncoderConfig(
        num_latents=512,
        d_latents=1024,
        num_blocks=8,
        num_self_attends_per_block=6,
        num_self_attention_heads=8,
        num_cross_attention_heads=1,
    )


@dataclass
class ImageClassifierConfig:
    """Encoder sizes plus the image-classification fields.

    ``preprocessing`` selects HF's three ImageNet models:

    - ``learned``: 1x1 conv to ``learned_channels`` plus a trainable ``image_size x image_size`` position
      table (projected to ``learned_channels``), concatenated;
    - ``fourier``: raw pixels plus ``num_bands`` 2-D Fourier bands at resolution ``image_size``;
    - ``conv``: the conv stem (4x down, ``conv_channels``) plus Fourier bands at ``image_size // 4``.

    The decoder is one trainable query of ``d_latents`` channels with a query residual (HF uses it for all
    three; DeepMind's learned-position config turns it off).
    """

    encoder: EncoderConfig = field(default_factory=_paper_encoder)
    preprocessing: str = "fourier"
    image_size: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    num_bands: int = 64
    conv_channels: int = 64
    learned_channels: int = 256
    decoder_num_heads: int = 1
    decoder_qk_channels: int | None = None
    decoder_v_channels: int | None = None
    decoder_widening_factor: int = 1
    decoder_use_query_residual: bool = True

    def __post_init__(self) -> None:
        if self.preprocessing not in PREPROCESSINGS:
            raise ValueError(f"preprocessing must be one of {PREPROCESSINGS}, got {self.preprocessing!r}")
        if self.image_size < 1 or self.num_classes < 1:
            raise ValueError("image_size and num_classes must be >= 1")
        if self.preprocessing == "conv" and self.image_size < 5:
            raise ValueError(f"the conv preprocessing needs image_size >= 5, got {self.image_size}")

    @classmethod
    def paper(cls, preprocessing: str = "fourier", **overrides) -> ImageClassifierConfig:
        """HF's ``PerceiverForImageClassification{Learned,Fourier,ConvProcessing}``: 224 px, 1000 classes."""
        return cls(**{"encoder": _paper_encoder(), "preprocessing": preprocessing, **overrides})

    @classmethod
    def small(cls, preprocessing: str = "fourier", **overrides) -> ImageClassifierConfig:
        """CPU-sized: 32 x 32 images, 10 classes, 16 Fourier bands, a 32 x 64 latent array."""
        base = dict(
            encoder=EncoderConfig.small(),
            preprocessing=preprocessing,
            image_size=32,
            num_classes=10,
            num_bands=16,
            conv_channels=16,
            learned_channels=32,
        )
        return cls(**{**base, **overrides})


def build_image_adapter(config: ImageClassifierConfig) -> ImageAdapter:
    """The input adapter of one of the three ImageNet preprocessings."""
    size = config.image_size
    if config.preprocessing == "learned":
        return ImageAdapter(
            prep_type="conv1x1",
            in_channels=config.in_channels,
            out_channels=config.learned_channels,
            spatial_downsample=1,
            position_encoding="trainable",
            position_encoding_kwargs=dict(
                index_dims=(size, size),
                num_channels=config.learned_channels,
                project_pos_dim=config.learned_channels,
            ),
        )
    if config.preprocessing == "fourier":
        return ImageAdapter(
            prep_type="pixels",
            in_channels=config.in_channels,
            spatial_downsample=1,
            position_encoding="fourier",
            position_encoding_kwargs=dict(num_bands=config.num_bands, max_resolution=(size, size)),
        )
    return ImageAdapter(
        prep_type="conv",
        in_channels=config.in_channels,
        out_channels=config.conv_channels,
        spatial_downsample=4,
        position_encoding="fourier",
        position_encoding_kwargs=dict(num_bands=config.num_bands, max_resolution=(size // 4, size // 4)),
    )


def build_image_classifier(config: ImageClassifierConfig) -> PerceiverIO:
    """Images [B, C, H, W] -> class logits [B, num_classes]."""
    decoder = ClassificationDecoder(
        latent_dim=config.encoder.d_latents,
        num_classes=config.num_classes,
        num_heads=config.decoder_num_heads,
        qk_channels=config.decoder_qk_channels,
        v_channels=config.decoder_v_channels,
        widening_factor=config.decoder_widening_factor,
        use_query_residual=config.decoder_use_query_residual,
        dropout=config.encoder.attention_dropout,
    )
    return PerceiverIO(config.encoder, input_adapter=build_image_adapter(config), decoder=decoder)
