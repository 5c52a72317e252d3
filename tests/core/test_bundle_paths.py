"""Bundle paths stay inside the chosen folder; links out of a bundle and broken files refused."""

from __future__ import annotations

import json

import pytest

from churn_core.bundle import inside_root, load_model
from churn_core.errors import ModelBundleError


def test_names_inside_the_root_are_accepted(tmp_path):
    assert inside_root(tmp_path, "shop") == tmp_path.resolve() / "shop"
    assert inside_root(tmp_path, tmp_path / "a" / "b") == tmp_path / "a" / "b"


@pytest.mark.parametrize("name", ["../elsewhere", "a/../../x", "/etc", "a/../.."])
def test_names_leaving_the_root_are_refused(tmp_path, name):
    with pytest.raises(ModelBundleError, match="outside the models folder"):
        inside_root(tmp_path / "models", name)


def test_symlink_escaping_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "models", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "shop").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ModelBundleError, match="symlink"):
        load_model("shop", root=root)


def test_file_linked_out_of_a_bundle_is_refused(tmp_path):
    bundle = tmp_path / "m"
    bundle.mkdir()
    (bundle / "bundle.json").write_text(json.dumps({"format_version": 1}))
    secret = tmp_path / "elsewhere.skops"
    secret.write_bytes(b"PK")
    (bundle / "pipeline.skops").symlink_to(secret)
    with pytest.raises(ModelBundleError, match="outside the bundle"):
        load_model(bundle)


@pytest.mark.parametrize(
    ("manifest", "skops", "match"),
    [
        ("{not json", b"", "not a readable model bundle"),
        ("[1, 2]", b"", "incompatible version"),
        ('{"format_version": 1}', b"not a zip", "not a readable model bundle"),
    ],
)
def test_broken_bundle_files_are_a_bundle_error(tmp_path, manifest, skops, match):
    (tmp_path / "bundle.json").write_text(manifest)
    (tmp_path / "pipeline.skops").write_bytes(skops)
    with pytest.raises(ModelBundleError, match=match):
        load_model(tmp_path)
