"""Write and read the model bundle (``model/``) safely.

A bundle is a directory holding:

- ``pipeline-<sha12>.joblib``: the fitted Pipeline, named by its own checksum;
- ``metadata.json``: the schema, task, labels, metrics, row counts, data and
  model checksums, library versions, the name of the pipeline file, the fast
  path's verdict and arrays (``fast_path``, see ``formcast.fastpath``), and under
  ``"files"`` every other file of the bundle (the model card's plots) with its sha256;
- ``<name>-<sha12>.png``: the model card's plots, named by their own checksums.

``metadata.json`` is the commit point. A new bundle writes its pipeline file
beside the old one, then replaces ``metadata.json`` in one ``os.replace``
(atomic on POSIX), then removes the old pipeline and plot files. Training killed at any
moment therefore leaves either the old bundle or the new one, never a mix.

Loading checks, in order, and fails with one line naming the fix:
the metadata is readable, the installed library versions are the ones that
pickled the model, the pipeline file's sha256 matches, and so does each listed
file's (read into memory then, so what is served is what was checked). Only then
is the model unpickled: joblib executes code on load, so nothing else is ever loaded.
A bundle whose checked fast path answers every prediction unpickles it only
when something asks for ``Bundle.pipeline``, so serving it starts without
importing scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata as package_metadata
from pathlib import Path

from formcast.schema import Schema, json_value

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
# Distributions whose objects end up inside the pickle: a different version of
# any of them can fail to load it or, worse, load it and answer differently.
PICKLED_DISTRIBUTIONS = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")
_PIPELINE_FILE = re.compile(r"^pipeline-[0-9a-f]{12}\.joblib$")
# A bundle file other than the model: lower-case words and its checksum, nothing
# that could climb out of the directory or be taken for a script.
BUNDLE_FILE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{12}\.png$")
_FIX = "retrain with `python train.py`"


class BundleError(Exception):
    """The bundle cannot be used; the message is one line saying what to do."""


@dataclass(frozen=True)
class Bundle:
    metadata: dict
    schema: Schema
    directory: Path
    # The files listed under "files" (the card's plots), by name, as checked at load.
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.metadata["model_sha256"][:12]

    @cached_property
    def pipeline(self):
        """The fitted Pipeline, unpickled on first use.

        ``load_bundle`` unpickles it at once unless the bundle has a checked
        fast path, which answers without it: the app then starts without
        importing scikit-learn at all (see formcast/fastpath.py).
        """
        return _load_pipeline(self.directory / self.metadata["model_file"], self.schema)


def library_versions() -> dict[str, str]:
    """The versions that matter for loading a pickled model, as installed now."""
    versions = {"python": platform.python_version()}
    versions.update({name: package_metadata.version(name) for name in PICKLED_DISTRIBUTIONS})
    return versions


def write_bundle(directory: Path, pipeline, metadata: dict, files: dict[str, bytes] | None = None) -> dict:
    """Write a complete bundle, replacing any earlier one atomically.

    Parameters
    ----------
    directory : Path
        The bundle directory; created if needed.
    pipeline : Pipeline
        The fitted model.
    metadata : dict
        Everything but the file names, checksums and versions, which this adds.
    files : dict, optional
        Other files for the bundle, as ``{stem: content}``: each is written as
        ``<stem>-<sha12>.png`` and listed under ``"files"`` as ``{"stem", "name", "sha256"}``.

    Returns
    -------
    dict
        The metadata as written.
    """
    # Never commit a bundle that load_bundle would refuse.
    import joblib

    _check_pipeline_matches(pipeline, Schema.from_dict(metadata["schema"]), "the new model")
    directory.mkdir(parents=True, exist_ok=True)
    staged_model = _temporary_path(directory, ".joblib")
    staged_metadata = _temporary_path(directory, ".json")
    listed = _write_files(directory, files or {})
    try:
        joblib.dump(pipeline, staged_model)
        _fsync(staged_model)
        checksum = sha256_of(staged_model)
        model_file = f"pipeline-{checksum[:12]}.joblib"
        metadata = {
            "format_version": FORMAT_VERSION,
            **metadata,
            "model_file": model_file,
            "model_sha256": checksum,
            "files": listed,
            "versions": library_versions(),
        }
        # Serialise before anything moves into place: a value JSON cannot hold fails here.
        staged_metadata.write_text(json.dumps(metadata, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                                   encoding="utf-8")
        _fsync(staged_metadata)
        os.replace(staged_model, directory / model_file)
        os.replace(staged_metadata, directory / METADATA_FILE)  # the commit point
        _fsync(directory)
    finally:
        staged_model.unlink(missing_ok=True)
        staged_metadata.unlink(missing_ok=True)
    _remove_unreferenced_files(directory, keep={model_file, *(f["name"] for f in listed)})
    return metadata


def load_bundle(directory: Path) -> Bundle:
    """Load and check a bundle.

    Raises
    ------
    BundleError
        If the bundle is missing or damaged, was written by other library
        versions, or its model does not match its checksum.
    """
    metadata = read_metadata(directory)
    check_versions(metadata)
    model_path = directory / metadata["model_file"]
    if not model_path.is_file():
        raise BundleError(f"{model_path} is missing (named in {METADATA_FILE}); {_FIX}")
    if sha256_of(model_path) != metadata["model_sha256"]:
        raise BundleError(f"{model_path} does not match the sha256 in {METADATA_FILE}: "
                          f"the file is damaged or was replaced; {_FIX}")
    files = _read_files(directory, metadata)
    bundle = Bundle(metadata=metadata, schema=Schema.from_dict(metadata["schema"]), directory=directory,
                    files=files)
    if not metadata.get("fast_path", {}).get("used"):
        bundle.pipeline  # the Pipeline will answer: unpickle and check it now, before any request
    return bundle


def _load_pipeline(model_path: Path, schema: Schema):
    import joblib  # imports scikit-learn's pickled classes: only when the Pipeline is needed

    try:
        pipeline = joblib.load(model_path)
    except Exception as error:  # any unpickling failure means the same thing to the user
        raise BundleError(f"{model_path} could not be loaded ({type(error).__name__}: {error}); {_FIX}") from error
    _check_pipeline_matches(pipeline, schema, str(model_path))
    return pipeline


def read_metadata(directory: Path) -> dict:
    """Read ``metadata.json`` and check it has what a bundle needs."""
    path = directory / METADATA_FILE
    if not path.is_file():
        raise BundleError(f"no model bundle in {directory} ({METADATA_FILE} not found); "
                          f"train one with `python train.py`, or set FORMCAST_MODEL_DIR")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path} is not valid JSON ({error}); {_FIX}") from None
    if not isinstance(metadata, dict):
        raise BundleError(f"{path} does not hold a JSON object; {_FIX}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path} has format_version {metadata.get('format_version')!r}, "
                          f"this formcast reads {FORMAT_VERSION}; {_FIX}")
    missing = [key for key in ("schema", "model_file", "model_sha256", "versions") if key not in metadata]
    if missing:
        raise BundleError(f"{path} lacks {', '.join(missing)}; {_FIX}")
    if not _PIPELINE_FILE.match(str(metadata["model_file"])):
        raise BundleError(f"{path} names an unexpected model file {metadata['model_file']!r}; {_FIX}")
    listed = metadata.setdefault("files", [])  # bundles from before the model card have none
    if not isinstance(listed, list) or not all(
            isinstance(f, dict) and BUNDLE_FILE.match(str(f.get("name"))) and isinstance(f.get("sha256"), str)
            for f in listed):
        raise BundleError(f"{path} lists files that are not plain <name>-<sha12>.png entries with a sha256; {_FIX}")
    return metadata


def check_versions(metadata: dict) -> None:
    """Refuse a model pickled under other versions of the libraries it depends on.

    The Python version may differ in its patch or minor number: the pickle
    protocol is stable across them, the libraries' own formats are not.
    """
    recorded, installed = metadata["versions"], library_versions()
    differ = [f"{name} {recorded.get(name)} (installed: {installed[name]})"
              for name in PICKLED_DISTRIBUTIONS if recorded.get(name) != installed[name]]
    if differ:
        raise BundleError(
            "the model was trained with " + ", ".join(differ) + ": install the versions it was trained "
            "with (pip install -r requirements.txt) or retrain it with `python train.py`")


def bundle_summary(metadata: dict) -> dict:
    """The model's identity, as /health and the page show it."""
    return {
        "id": metadata["model_sha256"][:12],
        "task": metadata["schema"]["task"],
        "target": metadata["schema"]["target"],
        "estimator": metadata.get("estimator"),
        "trained_at": metadata.get("trained_at"),
        "metrics": metadata.get("metrics", {}),
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_pipeline_matches(pipeline, schema: Schema, what: str) -> None:
    """The pipeline reads the schema's features by name and predicts its labels."""
    names = [str(name) for name in getattr(pipeline, "feature_names_in_", [])]
    if names != schema.feature_names:
        raise BundleError(f"{what} expects features {names}, but the schema lists {schema.feature_names}; {_FIX}")
    classes = [json_value(c) for c in getattr(pipeline, "classes_", [])]
    if classes != schema.labels:
        raise BundleError(f"{what} predicts the classes {classes}, but the schema lists {schema.labels}; {_FIX}")


def _write_files(directory: Path, files: dict[str, bytes]) -> list[dict]:
    """Write each file under its checksummed name (never over a file the old bundle uses)."""
    listed = []
    for stem, content in files.items():
        checksum = hashlib.sha256(content).hexdigest()
        name = f"{stem}-{checksum[:12]}.png"
        if not BUNDLE_FILE.match(name):
            raise ValueError(f"{stem!r} is not a bundle file name: use lower-case letters, digits and dashes")
        staged = _temporary_path(directory, ".png")
        try:
            staged.write_bytes(content)
            _fsync(staged)
            os.replace(staged, directory / name)
        finally:
            staged.unlink(missing_ok=True)
        listed.append({"stem": stem, "name": name, "sha256": checksum})
    return listed


def _read_files(directory: Path, metadata: dict) -> dict[str, bytes]:
    files = {}
    for entry in metadata["files"]:
        path = directory / entry["name"]
        if not path.is_file():
            raise BundleError(f"{path} is missing (listed in {METADATA_FILE}); {_FIX}")
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            raise BundleError(f"{path} does not match the sha256 in {METADATA_FILE}: "
                              f"the file is damaged or was replaced; {_FIX}")
        files[entry["name"]] = content
    return files


def _remove_unreferenced_files(directory: Path, keep: set[str]) -> None:
    for path in directory.iterdir():
        if (_PIPELINE_FILE.match(path.name) or BUNDLE_FILE.match(path.name)) and path.name not in keep:
            path.unlink(missing_ok=True)
        elif path.name.startswith(".staged-"):  # left behind by a killed run
            path.unlink(missing_ok=True)


def _temporary_path(directory: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=".staged-", suffix=suffix, dir=directory)
    os.close(handle)
    # mkstemp makes the file private (0600); a bundle must be readable by the
    # user a container or PaaS runs the app as, so give it the usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def _fsync(path: Path) -> None:
    """Flush a file (or directory entry) to disk, so a crash cannot leave it half written."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
