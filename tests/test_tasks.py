"""``pstar task``: the shared supervised trainer on every task (loss goes down, checkpoints, eval-only, resume,
TensorBoard, result JSON and picture), and the Hugging Face import path on a random HF model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.checkpoint import CheckpointError
from training.cli import main as pstar
from training.config_io import ConfigError, load_config
from training.tasks.cli import TASKS, _load
from training.tasks.trainer import run_task

TINY_ENCODER = [
    "model.encoder.num_latents=8",
    "model.encoder.d_latents=32",
    "model.encoder.num_self_attends_per_block=1",
]

# Per task: overrides giving a tiny model and a data set of exactly one batch, so every step sees the same examples.
TINY = {
    "image": [*TINY_ENCODER, "model.num_bands=4", "data.num_train=8", "data.num_val=8"],
    "text_mlm": [*TINY_ENCODER, "model.max_position_embeddings=64", "model.d_model=32", "model.decoder_num_heads=2",
                 "model.decoder_qk_channels=32", "data.seq_len=64", "mask_probability=0.3"],
    "text_classify": ["mode=classify", *TINY_ENCODER, "model.max_position_embeddings=64", "model.d_model=32",
                      "data.num_train=8", "data.num_val=8"],
    "flow": [*TINY_ENCODER, "model.num_bands=4", "model.patch_projection_channels=16", "model.rescale_factor=1.0",
             "data.num_train=4", "data.num_val=4"],
    "multimodal": ["data.num_train=4", "data.num_val=4", "model.encoder.num_latents=8", "train_fraction=1.0",
                   "loss_weights.label=1.0"],
}  # fmt: skip


def task_of(variant: str, tmp_path: Path, *extra: str):
    name = variant.split("_")[0]
    config_cls, task_cls = _load(name)
    overrides = [*TINY[variant], "train.batch_size=8", "train.eval_batch_size=8", "train.log_every=1",
                 "train.warmup_steps=0", "train.schedule=constant", f"train.run_root={tmp_path}", *extra]  # fmt: skip
    return task_cls(load_config(config_cls, None, overrides))


def train_losses(run_dir: Path) -> list[float]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [e.value for e in events.Scalars("losses/train")]


@pytest.fixture(autouse=True)
def _threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("variant", sorted(TINY))
def test_training_lowers_the_loss_and_writes_everything(variant, tmp_path):
    steps = {"text_mlm": 40, "multimodal": 40}.get(variant, 25)
    task = task_of(variant, tmp_path, f"train.steps={steps}", "train.learning_rate=3e-3", f"train.name={variant}")
    if variant == "text_mlm":  # one 8-window batch of the built-in corpus
        task.datasets = _first_items(task.datasets, 8)
    result = run_task(task, progress=False)
    losses = train_losses(result.run_dir)
    assert len(losses) == steps
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    record = json.loads(result.result_path.read_text())
    assert record["task"] == variant.split("_")[0] and record["steps"] == steps and record["mode"] == "train"
    assert record["metrics"] == result.metrics and record["primary_metric"] in result.metrics
    assert record["baseline"]["name"] and record["wall_seconds"] > 0 and record["parameters"] > 0
    assert result.picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = Path(record["checkpoint"])
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "optimizer.safetensors").is_file()
    assert json.loads((checkpoint / "meta.json").read_text())["task"] == variant.split("_")[0]


def _first_items(datasets, count):
    def limited(model_config):
        train, val = datasets(model_config)
        return torch.utils.data.Subset(train, range(count)), torch.utils.data.Subset(val, range(count))

    return limited


def test_eval_only_from_the_checkpoint_reproduces_the_final_metrics(tmp_path):
    trained = run_task(task_of("image", tmp_path, "train.steps=5", "train.name=a"), progress=False)
    again = run_task(task_of("image", tmp_path, "train.name=b"), eval_only=True, checkpoint=trained.run_dir,
                     progress=False)  # fmt: skip
    assert again.metrics == pytest.approx(trained.metrics)
    record = json.loads(again.result_path.read_text())
    assert record["mode"] == "eval" and record["steps"] == 0 and record["weights"]["checkpoint_step"] == 5


def test_resume_continues_exactly_where_the_run_stopped(tmp_path, caplog):
    extra = ("train.steps=6", "train.checkpoint_every=3", "train.keep_last=0", "train.name=r")
    full = run_task(task_of("image", tmp_path, *extra), progress=False)
    final = load_file(str(full.checkpoint / "model.safetensors"))
    (full.checkpoint / "optimizer.safetensors").unlink()  # as if the run had died while writing step 6
    with caplog.at_level(logging.WARNING, logger="pstar.checkpoint"):
        resumed = run_task(task_of("image", tmp_path, *extra), resume=True, progress=False)
    assert f"skipping checkpoint {full.checkpoint}: optimizer.safetensors is missing" in caplog.text
    assert resumed.steps == 6 and resumed.checkpoint == full.checkpoint
    again = load_file(str(resumed.checkpoint / "model.safetensors"))
    for key, value in final.items():
        torch.testing.assert_close(again[key], value, rtol=0, atol=0)


def test_run_errors_are_one_clear_message(tmp_path):
    task = task_of("image", tmp_path, "train.steps=1")
    with pytest.raises(ConfigError, match="--eval-only needs --checkpoint or --from-hf"):
        run_task(task, eval_only=True, progress=False)
    with pytest.raises(ConfigError, match="--resume needs train.name"):
        run_task(task, resume=True, progress=False)
    with pytest.raises(ConfigError, match=r"model: qk_channels \(\d+\) must be divisible"):
        run_task(task_of("image", tmp_path, "model.encoder.num_cross_attention_heads=4", "train.steps=1"),
                 progress=False)
    with pytest.raises(ConfigError, match="data has 2 labels .* num_classes=3"):
        run_task(task_of("text_classify", tmp_path, "model.num_classes=3", "train.steps=1"), progress=False)
    config_cls, _ = _load("flow")
    with pytest.raises(ConfigError, match=r"data\.source: folder needs train_dir and val_dir"):
        load_config(config_cls, None, ["data.source=folder"])
    with pytest.raises(ConfigError, match="unknown key 'num_latent'"):
        _load("image")[1](load_config(_load("image")[0], None, ["model.encoder.num_latent=3"])).model_config()


def test_an_image_that_cannot_be_decoded_is_skipped_and_reported(tmp_path):
    from training.tasks.data.image_folder import UNDECODABLE
    from training.tasks.data.shapes import ShapesDataset, save_image_folder

    train = save_image_folder(ShapesDataset(6, num_classes=2, seed=1), tmp_path / "train")
    val = save_image_folder(ShapesDataset(4, num_classes=2, seed=2), tmp_path / "val")
    cut = train / "circle" / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(cut)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # passes the header check, fails to decode
    overrides = [*TINY_ENCODER, "model.num_bands=4", "data.source=folder", f"data.train_dir={train}",
                 f"data.val_dir={val}", "train.steps=3", "train.batch_size=7", "train.name=cut"]  # fmt: skip
    result = run_task(task_of("image", tmp_path, *overrides), progress=False)  # every image in every batch
    record = json.loads(result.result_path.read_text())
    assert record["steps"] == 3 and record["checkpoint"] is not None
    assert record["data"]["skipped"] == {UNDECODABLE: 1}
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    assert [e.value for e in events.Scalars("data/skipped_files")] == [1.0]


def test_cli_runs_a_task_and_reports_errors(tmp_path, capsys):
    overrides = [*TINY["flow"], "train.steps=2", "train.batch_size=2", f"train.run_root={tmp_path}", "train.name=c"]
    assert pstar(["task", "flow", "--no-progress", *overrides]) == 0
    out = capsys.readouterr().out
    assert "epe" in out and "baseline epe" in out and (tmp_path / "c" / "result.json").is_file()
    assert pstar(["task", "nothing"]) == 2
    assert "choose one of image, text, flow, multimodal" in capsys.readouterr().err
    assert pstar(["task", "image", "--eval-only", f"train.run_root={tmp_path}"]) == 2
    assert "needs --checkpoint or --from-hf" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pstar(["task", "text", "--help"])
    assert "mask_probability" in capsys.readouterr().out
    assert set(TASKS) == {"image", "text", "flow", "multimodal"}


# ------------------------------------------------------------------------------------------ Hugging Face import


@pytest.fixture(scope="module")
def hf_image_model(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    config = transformers.PerceiverConfig(
        num_latents=8, d_latents=32, num_blocks=1, num_self_attends_per_block=1, num_self_attention_heads=2,
        num_cross_attention_heads=1, image_size=32, num_labels=10,
        architectures=["PerceiverForImageClassificationLearned"],
    )  # fmt: skip
    torch.manual_seed(3)
    model = transformers.PerceiverForImageClassificationLearned(config).eval()
    path = tmp_path_factory.mktemp("hf") / "learned"
    model.save_pretrained(path)
    return model, path


def test_from_hf_evaluates_an_imported_model_like_transformers_does(hf_image_model, tmp_path):
    hf_model, path = hf_image_model
    task = task_of("image", tmp_path, "data.num_val=16", "train.name=hf")
    result = run_task(task, eval_only=True, from_hf=path, progress=False)
    record = json.loads(result.result_path.read_text())
    assert record["weights"]["architecture"] == "PerceiverForImageClassificationLearned"
    assert record["model_config"]["preprocessing"] == "learned" and record["model_config"]["image_size"] == 32
    _, val = task.datasets(task.model_config())
    images = torch.stack([torch.as_tensor(val[i][0]) for i in range(len(val))])
    labels = np.array([val[i][1] for i in range(len(val))])
    with torch.no_grad():
        predicted = hf_model(inputs=images).logits.argmax(-1).numpy()
    assert result.metrics["accuracy"] == pytest.approx(float(np.mean(predicted == labels)))


def test_from_hf_rejects_a_checkpoint_of_another_task(hf_image_model, tmp_path):
    _, path = hf_image_model
    with pytest.raises(ConfigError, match="PerceiverForImageClassificationLearned; the flow task takes"):
        run_task(task_of("flow", tmp_path), eval_only=True, from_hf=path, progress=False)
    with pytest.raises(ConfigError, match="no model.safetensors or pytorch_model.bin"):
        run_task(task_of("image", tmp_path), eval_only=True, from_hf=tmp_path, progress=False)


def test_a_classifier_starts_from_an_mlm_runs_encoder(tmp_path):
    """The paper's recipe: byte MLM, then classification from its byte and position embeddings, latents and encoder
    (``init_checkpoint``); the classifier takes the MLM's sizes, its decoder is new."""
    from safetensors.torch import load_file as read

    mlm = run_task(task_of("text_mlm", tmp_path, "train.steps=2", "train.name=mlm"), progress=False)
    mlm_weights = read(str(next((Path(mlm.run_dir) / "checkpoints").iterdir()) / "model.safetensors"))
    task = task_of("text_classify", tmp_path, "train.steps=1", "train.name=clf", "train.learning_rate=1e-9",
                   "model.max_position_embeddings=64", f"init_checkpoint={mlm.run_dir}")  # fmt: skip
    model = task.build_model(task.model_config())
    own = model.state_dict()
    shared = [k for k in own if k.startswith(("input_adapter.", "encoder."))]
    assert shared and all(torch.equal(own[k], mlm_weights[k]) for k in shared)
    assert any(k.startswith("decoder.") for k in own)
    result = run_task(task, progress=False)
    record = json.loads((Path(result.run_dir) / "result.json").read_text())
    assert record["weights"]["init_checkpoint"].startswith(str(mlm.run_dir)) and record["weights"]["tensors"] == len(
        shared)


def test_init_checkpoint_is_refused_where_it_cannot_apply(tmp_path):
    image = run_task(task_of("image", tmp_path, "train.steps=1", "train.name=img"), progress=False)
    with pytest.raises(ConfigError, match="mode=classify"):
        task_of("text_mlm", tmp_path, f"init_checkpoint={image.run_dir}")
    task = task_of("text_classify", tmp_path, f"init_checkpoint={image.run_dir}")
    with pytest.raises(CheckpointError, match="init_checkpoint takes a text mode=mlm run"):
        task.model_config()
    mlm = run_task(task_of("text_mlm", tmp_path, "train.steps=1", "train.name=mlm"), progress=False)
    clash = task_of("text_classify", tmp_path, f"init_checkpoint={mlm.run_dir}", "model.d_model=48")
    with pytest.raises(ConfigError, match="model.d_model"):
        clash.model_config()
