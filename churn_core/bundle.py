"""Model bundle: a directory that reloads without unpickling anything a user could swap.

Layout::

    DIR/bundle.json       config, feature names, event types, metrics, threshold, versions
    DIR/pipeline.skops    the fitted scikit-learn pipeline (skops, explicit trusted types)
    DIR/encoder/          the Transformer encoder (save_pretrained: config.json + safetensors)

skops refuses types it does not know; we accept only those on ``TRUSTED_PREFIXES``.
"""

from __future__ import annotations

import json
import logging
import platform
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
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "churn_core.model.", "builtins.")
_PACKAGES = ("churn-core", "scikit-learn", "numpy", "pandas", "torch", "transformers", "skops")


def save_model(
    model: ChurnModel,
    config: ChurnConfig,
    directory: str | Path,
    *,
    as_of: pd.Timestamp,
    metrics: dict[str, float],
    threshold: float,
) -> Path:
    """Write the bundle; the encoder (if any) is saved with its own safe format."""
    import skops.io as sio

    out = Path(directory)
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


def load_model(directory: str | Path) -> tuple[ChurnModel, ChurnConfig, dict]:
    """(model, config, manifest) from a bundle directory; refuses untrusted types."""
    import skops.io as sio

    d = Path(directory)
    manifest_path = d / "bundle.json"
    if not manifest_path.is_file():
        raise ModelBundleError(
            f"{d} is not a model bundle (no bundle.json). Train one with "
            f"`python -m churn_core train EVENTS --horizon-days H --model-dir {d}`."
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelBundleError(
            f"{d} was written by an incompatible version (format "
            f"{manifest.get('format_version')}, expected {FORMAT_VERSION}); retrain it."
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
