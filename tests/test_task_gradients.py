"""Every task model at small size trains end to end: gradients reach every parameter that is used."""

import pytest
import torch

from perceiver_io.tasks import (
    ImageClassifierConfig,
    MaskedLMConfig,
    MultimodalAutoencoderConfig,
    OpticalFlowConfig,
    TextClassifierConfig,
    build_image_classifier,
    build_masked_lm,
    build_multimodal_autoencoder,
    build_optical_flow,
    build_text_classifier,
)


def loss_of(output) -> torch.Tensor:
    if isinstance(output, dict):
        return sum(v.square().mean() for v in output.values())
    return output.square().mean()


def text_ids(config) -> torch.Tensor:
    return torch.randint(6, 262, (2, min(24, config.max_position_embeddings)))


def multimodal_inputs(config) -> dict:
    return {
        "image": torch.randn(2, config.num_frames, 3, config.image_size, config.image_size),
        "audio": torch.randn(2, config.num_frames * config.audio_samples_per_frame, 1),
        "label": torch.zeros(2, config.num_classes),
    }


CASES = {
    "masked_lm": (lambda: build_masked_lm(MaskedLMConfig.small()), lambda m: text_ids(MaskedLMConfig.small())),
    "text_classifier": (lambda: build_text_classifier(TextClassifierConfig.small()),
                        lambda m: text_ids(TextClassifierConfig.small())),
    "image_learned": (lambda: build_image_classifier(ImageClassifierConfig.small("learned")),
                      lambda m: torch.randn(2, 3, ImageClassifierConfig.small("learned").image_size,
                                            ImageClassifierConfig.small("learned").image_size)),
    "image_fourier": (lambda: build_image_classifier(ImageClassifierConfig.small("fourier")),
                      lambda m: torch.randn(2, 3, ImageClassifierConfig.small("fourier").image_size,
                                            ImageClassifierConfig.small("fourier").image_size)),
    "image_conv": (lambda: build_image_classifier(ImageClassifierConfig.small("conv")),
                   lambda m: torch.randn(2, 3, ImageClassifierConfig.small("conv").image_size,
                                         ImageClassifierConfig.small("conv").image_size)),
    "optical_flow": (lambda: build_optical_flow(OpticalFlowConfig.small()),
                     lambda m: torch.randn(2, 2, 3, *OpticalFlowConfig.small().train_size)),
    "multimodal": (lambda: build_multimodal_autoencoder(MultimodalAutoencoderConfig.small()),
                   lambda m: multimodal_inputs(MultimodalAutoencoderConfig.small())),
}

# By design (as in HF): mask tokens of modalities masked with probability 0 never enter the graph, and
# the label (masked with probability 1) is replaced whole by its mask token, padding included.
UNUSED = {"multimodal": {"input_adapter.mask_tokens.audio", "input_adapter.mask_tokens.image",
                         "input_adapter.padding.label"}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_reach_every_parameter(name):
    build, make_inputs = CASES[name]
    model = build().train()
    loss_of(model(make_inputs(model))).backward()
    without = {n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0}
    assert without == UNUSED.get(name, set())
