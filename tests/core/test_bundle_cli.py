"""Model bundle round trip, trusted-type checks, and the CLI contract."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_core.bundle import load_model, save_model
from churn_core.cli import main
from churn_core.config import ChurnConfig
from churn_core.errors import ModelBundleError
from churn_core.export import read_export
from churn_core.pipeline import score_users, train
from tests.core.test_leakage import _base_log

REPO = Path(__file__).resolve().parents[2]
AS_OF = pd.Timestamp("2023-10-01")


@pytest.fixture(scope="module")
def small_log():
    return _base_log(n_users=250)


@pytest.fixture(scope="module")
def events_csv(small_log, tmp_path_factory):
    path = tmp_path_factory.mktemp("ev") / "events.csv"
    small_log.frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("classifier", ["logreg", "hgb", "rf"])
def test_bundle_round_trip_gives_identical_scores(small_log, tmp_path, classifier):
    cfg = ChurnConfig().with_(
        label={"horizon_days": 30}, model={"classifier": classifier, "n_estimators": 50}
    )
    run = train(small_log, cfg, AS_OF)
    save_model(run.model, run.config, tmp_path, as_of=AS_OF, metrics={}, threshold=run.threshold)
    model, config, manifest = load_model(tmp_path)
    assert config == run.config
    assert manifest["versions"]["scikit-learn"]
    again, _ = score_users(model, small_log.before(AS_OF), AS_OF, config)
    pd.testing.assert_frame_equal(again, run.scores)


def test_training_without_scoring_gives_the_same_model(small_log):
    """``churn train`` skips scoring every user (``churn score`` does it): same model."""
    cfg = ChurnConfig().with_(label={"horizon_days": 30})
    full = train(small_log, cfg, AS_OF)
    lean = train(small_log, cfg, AS_OF, score_all=False)
    assert lean.scores.empty and list(lean.scores.columns) == list(full.scores.columns)
    assert lean.threshold == full.threshold
    pd.testing.assert_frame_equal(lean.cv.summary, full.cv.summary)
    again, _ = score_users(lean.model, small_log.before(AS_OF), AS_OF, lean.config)
    pd.testing.assert_frame_equal(again, full.scores)


def test_bundle_refuses_untrusted_types(small_log, tmp_path):
    import skops.io as sio

    run = train(small_log, ChurnConfig().with_(label={"horizon_days": 30}), AS_OF)
    save_model(run.model, run.config, tmp_path, as_of=AS_OF, metrics={}, threshold=0.5)
    sio.dump({"evil": Path("/etc/passwd")}, tmp_path / "pipeline.skops")  # a swapped file
    with pytest.raises(ModelBundleError, match="not on the allow-list.*pathlib"):
        load_model(tmp_path)


def test_bundles_that_name_the_blend_in_its_old_module_still_load(small_log, tmp_path):
    """Bundles saved before ``churn_core.blend`` existed name its classes
    ``churn_core.model.*``: they load and score as before."""
    import zipfile

    run = train(small_log, ChurnConfig().with_(label={"horizon_days": 30}), AS_OF)
    save_model(run.model, run.config, tmp_path, as_of=AS_OF, metrics={}, threshold=0.5)
    skops_file = tmp_path / "pipeline.skops"
    with zipfile.ZipFile(skops_file) as z:
        files = {name: z.read(name) for name in z.namelist()}
    schema = files["schema.json"].decode()
    assert '"churn_core.blend"' in schema  # the blend is in the bundle, under its new home
    files["schema.json"] = schema.replace('"churn_core.blend"', '"churn_core.model"').encode()
    with zipfile.ZipFile(skops_file, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    model, config, _ = load_model(tmp_path)
    assert type(model.pipeline.named_steps["clf"]).__module__ == "churn_core.blend"
    again, _ = score_users(model, small_log.before(AS_OF), AS_OF, config)
    pd.testing.assert_frame_equal(again, run.scores)


def test_missing_bundle_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelBundleError, match="no bundle.json.*churn_core train"):
        load_model(tmp_path / "nothing")


def test_cli_train_score_round_trip(events_csv, tmp_path, capsys):
    model_dir = tmp_path / "m"
    assert (
        main(
            [
                "-q",
                "train",
                str(events_csv),
                "--horizon-days",
                "30",
                "--model-dir",
                str(model_dir),
                "--as-of",
                "2023-10-01",
            ]
        )
        == 0
    )
    manifest = json.loads((model_dir / "bundle.json").read_text())
    assert manifest["config"]["label"]["horizon_days"] == 30
    out = tmp_path / "scores.csv"
    assert (
        main(
            [
                "-q",
                "score",
                str(events_csv),
                "--model-dir",
                str(model_dir),
                "--out",
                str(out),
                "--as-of",
                "2023-10-01",
            ]
        )
        == 0
    )
    meta, scores = read_export(out)
    assert meta["as_of"] == "2023-10-01 00:00" and meta["horizon_days"] == "30"
    assert list(scores.columns[:2]) == ["user_id", "churn_probability"]
    frame = pd.read_csv(events_csv, parse_dates=["timestamp"])
    seen = frame.loc[frame["timestamp"] < "2023-10-01", "user_id"].astype(str)
    assert sorted(scores["user_id"]) == sorted(seen.unique())
    assert scores["churn_probability"].between(0, 1).all()


def test_cli_writes_xlsx(events_csv, tmp_path):
    model_dir = tmp_path / "m"
    main(["-q", "train", str(events_csv), "--horizon-days", "30", "--model-dir", str(model_dir)])
    out = tmp_path / "s.xlsx"
    assert (
        main(["-q", "score", str(events_csv), "--model-dir", str(model_dir), "--out", str(out)])
        == 0
    )
    assert len(read_export(out)[1]) == pd.read_csv(events_csv)["user_id"].nunique()


def test_cli_bad_input_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,amount\na,1\nb,2\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "churn_core",
            "train",
            str(bad),
            "--horizon-days",
            "30",
            "--model-dir",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "time" in err[0].lower() and "--time-col" in err[0]


def test_cli_help_has_examples():
    proc = subprocess.run(
        [sys.executable, "-m", "churn_core", "train", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0
    assert "--horizon-days" in proc.stdout and "python -m churn_core score" in proc.stdout


def test_config_toml_and_flags(tmp_path):
    from churn_core.cli import build_parser, config_from_args

    toml = tmp_path / "c.toml"
    toml.write_text('[label]\nhorizon_days = 45\n[model]\nclassifier = "rf"\nC = 0.5\n')
    args = build_parser().parse_args(
        ["train", "x.csv", "--model-dir", "m", "--config", str(toml), "--classifier", "hgb"]
    )
    cfg = config_from_args(args)
    assert (cfg.label.horizon_days, cfg.model.classifier, cfg.model.C) == (45, "hgb", 0.5)
    toml.write_text("[model]\nclasifier = 'rf'\n")
    with pytest.raises(ValueError, match="Unknown key.*clasifier"):
        ChurnConfig.from_toml(toml)


def test_core_never_imports_streamlit_or_heavy_libraries():
    code = (
        "import sys, churn_core, churn_core.cli, churn_core.pipeline; "
        "print(sorted(m for m in ('streamlit','torch','transformers','shap') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


def test_scores_are_deterministic(small_log):
    cfg = ChurnConfig().with_(
        label={"horizon_days": 30}, model={"classifier": "hgb", "n_estimators": 40}
    )
    a = train(small_log, cfg, AS_OF).scores["churn_probability"].to_numpy()
    b = train(small_log, cfg, AS_OF).scores["churn_probability"].to_numpy()
    np.testing.assert_array_equal(a, b)


TINY_ENCODER = {
    "hidden_size": 16,
    "num_layers": 1,
    "num_heads": 1,
    "intermediate_size": 32,
    "max_events": 16,
    "epochs": 1,
    "max_train_users": 200,
    "batch_size": 32,
}


def test_bundle_with_a_transformer_encoder_reloads_identically(small_log, tmp_path):
    cfg = ChurnConfig().with_(
        label={"horizon_days": 30, "n_cutoffs": 2},
        model={"cv_folds": 2},
        encoder={"kind": "hybrid", "finetune_epochs": 2, **TINY_ENCODER},
    )
    stages: list[str] = []
    run = train(small_log, cfg, AS_OF, progress=lambda s, f: stages.append(s))
    # the encoder's epochs reach the caller's progress, inside each step that trains it
    assert any(s.startswith("cross-validation fold 1/2: encoder: pretrain epoch") for s in stages)
    assert any(s.startswith("final model: encoder: fine-tune epoch") for s in stages)
    fitted = run.model.pipeline.named_steps["prep"].named_transformers_["seq"]
    assert fitted.progress is None and fitted.finetune_history_  # callback dropped after fit
    save_model(run.model, run.config, tmp_path, as_of=AS_OF, metrics={}, threshold=run.threshold)
    assert (tmp_path / "encoder" / "model.safetensors").is_file()
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.bin"))
    model, config, _ = load_model(tmp_path)
    again, _ = score_users(model, small_log.before(AS_OF), AS_OF, config)
    pd.testing.assert_frame_equal(again, run.scores, atol=1e-6)
