"""Train the Rasa model unless one trained from the same inputs already exists.

Training takes minutes; the model is named by a hash of everything that shapes it
(config, domain, training data, the Rasa version, the code of our own NLU components
and the identity of the sentence-embedding model they load), so an unchanged project
reuses it and a new embedding model or featurizer change trains a new one.
Prints the model's path.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import rasa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make ``nlu`` and ``bot`` importable

from bot.settings import embedding_model_path  # noqa: E402
from nlu.encoder import model_identity, resolve_model_path  # noqa: E402

INPUTS = [
    ROOT / "config.yml", ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml")),
    *sorted((ROOT / "nlu").glob("*.py")),
]
MODELS = ROOT / "models"


def inputs_hash() -> str:
    """A short digest of every training input, the Rasa version and the embedding model."""
    digest = hashlib.sha256(rasa.__version__.encode())
    for path in INPUTS:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(model_identity(resolve_model_path(embedding_model_path())).encode())
    return digest.hexdigest()[:12]


def model_path() -> Path:
    """Where the model for the current inputs lives (trained or not)."""
    return MODELS / f"complaints-{inputs_hash()}.tar.gz"


def main() -> int:
    target = model_path()
    if target.exists():
        print(target)
        return 0
    MODELS.mkdir(exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "rasa"), "train",
        "--config", str(ROOT / "config.yml"), "--domain", str(ROOT / "domain.yml"),
        "--data", str(ROOT / "data"), "--out", str(MODELS),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]
    result = subprocess.run(command, cwd=ROOT, stdout=sys.stderr)
    if result.returncode != 0 or not target.exists():
        print("train_model: training failed", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
