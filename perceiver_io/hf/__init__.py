"""Loading Hugging Face / DeepMind Perceiver checkpoints."""

from perceiver_io.hf.keys import CheckpointMismatchError
from perceiver_io.hf.loading import (
    ARCHITECTURES,
    HFImport,
    from_huggingface,
    from_state_dict,
    import_pretrained,
    import_state_dict,
    load_state_dict_file,
)

__all__ = [
    "ARCHITECTURES",
    "CheckpointMismatchError",
    "HFImport",
    "from_huggingface",
    "from_state_dict",
    "import_pretrained",
    "import_state_dict",
    "load_state_dict_file",
]
