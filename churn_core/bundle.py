"""Model bundle: a directory that reloads without unpickling anything a user could swap.

Layout::

    DIR/bundle.json       config, feature names, event types, metrics, threshold, versions
    DIR/pipeline.skops    the fitted scikit-learn pipeline (skops, explicit trusted types)
    DIR/encoder/          the Transformer encoder (save_pretrained: config.json + safetensors)

skops refuses types it does not know; we accept only those on ``TRUSTED_PREFIXES``.
With ``root`` (the folder the app or a caller keeps bundles in), a bundle path that leaves it
(``..`` components, or a symlink that resolves outside) is refused; whatever the root, a file
inside a bundle that is a symlink leading out of the bundle is refused on load.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import zipfile
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from churn_core.config import ChurnConfig
from churn_core.errors import ModelBundleError
from churn_core.model import Calibrator, ChurnModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "churn_core.blend.",
    "churn_core.model.",
    "builtins.",
)
_PACKAGES = ("churn-core", "scikit-learn", "numpy", "pandas", "torch", "transformers", "skops")


def save_model(
    model: ChurnModel,
    config: ChurnConfig,
    directory: str | Path,
    *,
    as_of: pd.Timestamp,
    metrics: dict[str, float],
    threshold: float,
    root: str | Path | None = None,
) -> Path:
    """Write the bundle; the encoder (if any) is saved with its own safe format.

    With ``root``, ``directory`` must stay inside it (else :class:`ModelBundleError`).
    """
    sio = skops_io()
    out = Path(directory) if root is None else inside_root(root, directory)
    out.mkdir(parents=True, exist_ok=True)
    pipe = model.pipeline
    prep = pipe.named_steps["prep"]
    encoder_slot = _encoder_slot(prep)
    if encoder_slot is not None:
        name, encoder, cols = prep.transformers_[encoder_slot]
        template = prep.transformers[encoder_slot]
        encoder.save(out / "encoder")
        # placeholders while dumping: the encoder's own files hold it, not skops
        prep.transformers_[encoder_slot] = (name, "drop", cols)
        prep.transformers[encoder_slot] = (name, "drop", template[2])
    try:
        sio.dump(pipe, out / "pipeline.skops")
    finally:
        if encoder_slot is not None:
            prep.transformers_[encoder_slot] = (name, encoder, cols)
            prep.transformers[encoder_slot] = template
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "feature_names": list(model.feature_names),
        "event_types": list(model.event_types),
        "max_events": model.max_events,
        "calibrator": asdict(model.calibrator),
        "encoder": None
        if encoder_slot is None
        else {"slot": encoder_slot, "class": type(encoder).__name__},
        "as_of": str(as_of),
        "metrics": metrics,
        "threshold": threshold,
        "versions": _versions(),
    }
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2, default=str))
    log.info("saved model bundle to %s", out)
    return out


def skops_io():
    """``skops.io``, imported without importing all of scikit-learn (and torch with it).

    At import, skops builds its default list of trusted types by walking and importing every
    scikit-learn package (``sklearn.utils.all_estimators``), sklearn's torch adapter included:
    about 400 modules and torch, 2 s of ``churn score``'s start-up. This bundle never relies on
    that default: ``load_model`` asks skops which types of the file are not trusted by default,
    refuses any outside ``TRUSTED_PREFIXES`` and passes the rest explicitly. So skops is
    imported with an empty estimator list: the same types are accepted and refused, and
    skops' own default only gets stricter.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    walk = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda type_filter=None: []
    try:
        import skops.io as sio
    finally:
        sklearn.utils.all_estimators = walk
    return sio


def inside_root(root: str | Path, directory: str | Path) -> Path:
    """``directory`` (absolute, or relative to ``root``) if it stays inside ``root``.

    Refuses ``..`` components and paths whose real location (symlinks resolved) is outside
    ``root``, with a :class:`ModelBundleError` naming the folder to use.
    """
    base = Path(root).expanduser().resolve()
    given = Path(directory).expanduser()
    path = given if given.is_absolute() else base / given
    if ".." in given.parts or not _is_within(path.resolve(), base):
        raise ModelBundleError(
            f"Model bundle path {str(directory)!r} leads outside the models folder {base} "
            "('..' or a symlink). Name a folder inside it, such as 'shop_2024'."
        )
    return path


def _is_within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def _check_no_escape(d: Path) -> None:
    """Refuse bundle files that are symlinks resolving outside the bundle directory."""
    real = d.resolve()
    for dirpath, dirnames, filenames in os.walk(d):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink() and not _is_within(p.resolve(), real):
                raise ModelBundleError(
                    f"{p} is a link to {p.resolve()}, outside the bundle {d}. Only load "
                    "bundles you trained yourself; train the model again."
                )


def load_model(
    directory: str | Path, root: str | Path | None = None
) -> tuple[ChurnModel, ChurnConfig, dict]:
    """(model, config, manifest) from a bundle directory; refuses untrusted types.

    With ``root``, ``directory`` must stay inside it. Every problem with the files raises
    :class:`ModelBundleError`.
    """
    d = Path(directory) if root is None else inside_root(root, directory)
    manifest_path = d / "bundle.json"
    if not manifest_path.is_file():
        raise ModelBundleError(
            f"{d} is not a model bundle (no bundle.json). Train one with "
            f"`python -m churn_core train EVENTS --horizon-days H --model-dir {d}`."
        )
    _check_no_escape(d)
    try:
        return _load_model(d, manifest_path)
    except ModelBundleError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelBundleError(
            f"{d} is not a readable model bundle ({type(exc).__name__}: {exc}). Train the "
            "model again."
        ) from exc


def _load_model(d: Path, manifest_path: Path) -> tuple[ChurnModel, ChurnConfig, dict]:
    sio = skops_io()

    manifest = json.loads(manifest_path.read_text())
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise ModelBundleError(
            f"{d} was written by an incompatible version (format {version}, expected "
            f"{FORMAT_VERSION}); retrain it."
        )
    untrusted = sio.get_untrusted_types(file=d / "pipeline.skops")
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ModelBundleError(
            f"{d / 'pipeline.skops'} contains types that are not on the allow-list: "
            f"{', '.join(refused)}. Only load bundles you trained yourself."
        )
    pipe = sio.load(d / "pipeline.skops", trusted=untrusted)
    enc = manifest.get("encoder")
    if enc:
        prep = pipe.named_steps["prep"]
        name, _, cols = prep.transformers_[enc["slot"]]
        encoder = _load_encoder(enc["class"], d / "encoder")
        prep.transformers_[enc["slot"]] = (name, encoder, cols)
        prep.transformers[enc["slot"]] = (name, encoder, prep.transformers[enc["slot"]][2])
    config = ChurnConfig.from_dict(_json_config(manifest["config"]))
    calibrator: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in manifest["calibrator"].items()
    }
    model = ChurnModel(
        pipeline=pipe,
        calibrator=Calibrator(**calibrator),
        feature_names=tuple(manifest["feature_names"]),
        event_types=tuple(manifest["event_types"]),
        max_events=manifest["max_events"],
    )
    return model, config, manifest


def _encoder_slot(prep) -> int | None:
    for i, (name, _, _) in enumerate(prep.transformers_):
        if name == "seq":
            return i
    return None


def _load_encoder(class_name: str, path: Path):
    if class_name == "TextSequenceEncoder":
        from churn_core.encoder.text import TextSequenceEncoder

        return TextSequenceEncoder.load(path)
    from churn_core.encoder.estimator import BehaviorEncoder

    return BehaviorEncoder.load(path)


def _json_config(cfg: dict) -> dict:
    """JSON turned tuples into lists; event_map pairs back into a mapping for from_dict."""
    schema = dict(cfg.get("schema", {}))
    if schema.get("event_map"):
        schema["event_map"] = {k: v for k, v in schema["event_map"]}
    else:
        schema.pop("event_map", None)
    return {**cfg, "schema": schema}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
