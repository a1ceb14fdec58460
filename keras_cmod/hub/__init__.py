"""Hugging Face Hub I/O for Keras 3 models.

`huggingface_hub`'s own Keras helpers (`push_to_hub_keras`,
`from_pretrained_keras`) were removed in its v1.0 and never supported
Keras 3, so keras-cmod owns this small module. It works on any Keras 3
model; the model registry (`keras_cmod.zoo`) builds on it.

- `save_pretrained(model, dir)`: Keras-native unzipped directory +
  `pretrained_cfg.json` + `README.md` card, written atomically.
- `push_to_hub(model, "org/name")`: create the repo if needed, upload in
  one commit, keep an existing README; returns the commit sha.
- `from_pretrained("hf-hub:org/name@sha")`: download known files by name
  (no metadata API), verify sha256, load with Keras `safe_mode=True`.
- `download(...)`, `resolve_source(...)`, `describe(...)`: the seams used by
  the registry and the command line (`keras-cmod push / pull / info`).

Every Hub request runs under a deadline on time without progress (60 s;
`timeout=`, or the environment variable `KERAS_CMOD_HUB_TIMEOUT`), after
which `HubTimeoutError` names the repo, the file and what the server
answered.

Importing this package imports neither keras nor huggingface_hub.
"""

from keras_cmod.hub._common import (
    ALLOWED_SUFFIXES,
    CONFIG_FILE,
    METADATA_FILE,
    PRETRAINED_CFG_FILE,
    README_FILE,
    WEIGHTS_FILE,
    read_pretrained_cfg,
    sha256_file,
)
from keras_cmod.hub.errors import (
    HubAccessError,
    HubConnectionError,
    HubError,
    HubFileNotFoundError,
    HubHTTPError,
    HubIntegrityError,
    HubNotCachedError,
    HubNotFoundError,
    HubRepositoryNotFoundError,
    HubRevisionNotFoundError,
    HubTimeoutError,
    InvalidRepoIdError,
    UnsafeFileError,
)
from keras_cmod.hub.loading import (
    describe,
    download,
    from_pretrained,
    verify_files,
)
from keras_cmod.hub.model_card import (
    generate_model_card,
    read_model_card_metadata,
)
from keras_cmod.hub.saving import HubCommit, push_to_hub, save_pretrained
from keras_cmod.hub.sources import Source, resolve_source, validate_repo_id

__all__ = [
    "ALLOWED_SUFFIXES",
    "CONFIG_FILE",
    "METADATA_FILE",
    "PRETRAINED_CFG_FILE",
    "README_FILE",
    "WEIGHTS_FILE",
    "HubAccessError",
    "HubCommit",
    "HubConnectionError",
    "HubError",
    "HubFileNotFoundError",
    "HubHTTPError",
    "HubIntegrityError",
    "HubNotCachedError",
    "HubNotFoundError",
    "HubRepositoryNotFoundError",
    "HubRevisionNotFoundError",
    "HubTimeoutError",
    "InvalidRepoIdError",
    "Source",
    "UnsafeFileError",
    "describe",
    "download",
    "from_pretrained",
    "generate_model_card",
    "push_to_hub",
    "read_model_card_metadata",
    "read_pretrained_cfg",
    "resolve_source",
    "save_pretrained",
    "sha256_file",
    "validate_repo_id",
    "verify_files",
]
