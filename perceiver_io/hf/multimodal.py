"""HF ``PerceiverForMultimodalAutoencoding`` -> our audio/video/label autoencoder.

HF builds its queries correctly only for subsampled decoding, so compare outputs with
``subsampled_output_points`` given (as HF's own example does); ours also decodes without them.
"""

from __future__ import annotations

from perceiver_io.hf.config import HFConfig, encoder_config_from_hf
from perceiver_io.hf.keys import ENCODER_RULES, LAYER_RULES, decoder_rules
from perceiver_io.hf.loading import Converter
from perceiver_io.tasks.multimodal import MultimodalAutoencoderConfig, build_multimodal_autoencoder


def _config(cfg: HFConfig) -> MultimodalAutoencoderConfig:
    _, frames, height, width = cfg.output_shape
    if frames != cfg.num_frames or height != width:
        raise ValueError(
            f"only square videos of num_frames ({cfg.num_frames}) frames are supported; "
            f"HF output_shape is {list(cfg.output_shape)}"
        )
    # HF fixes the rest: 4x4 patches, 32/192 Fourier bands, input padding 4, query padding 2, label masked.
    return MultimodalAutoencoderConfig(
        encoder=encoder_config_from_hf(cfg),
        num_frames=cfg.num_frames,
        image_size=height,
        image_position_resolution=cfg.image_size,
        audio_samples_per_frame=cfg.audio_samples_per_frame,
        samples_per_patch=cfg.samples_per_patch,
        num_classes=cfg.num_labels,
        output_num_channels=cfg.output_num_channels,
        label_query_channels=cfg._label_trainable_num_channels,
    )


MULTIMODAL_AUTOENCODING = Converter(
    config_from_hf=_config,
    build=build_multimodal_autoencoder,
    rules=(
        (r"^input_adapter\.padding\.", "perceiver.input_preprocessor.padding."),
        (r"^input_adapter\.mask_tokens\.", "perceiver.input_preprocessor.mask."),
        *ENCODER_RULES,
        *decoder_rules("decoder.modalities.label.", "perceiver.decoder.modalities.label.decoder."),
        (r"^decoder\.padding\.", "perceiver.decoder.padding."),
        *decoder_rules("decoder.shared.", "perceiver.decoder.decoder."),
        (r"^postprocessor\.modalities\.", "perceiver.output_postprocessor.modalities."),
        *LAYER_RULES,
    ),
)
