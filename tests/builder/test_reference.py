"""`aiedge build --reference-data`: the image carries a drift profile of the model's inputs and
outputs over the reference rows (a file beside the model and a label), from the seed housing
model's own 20 test rows (JSON), a CSV with a header (its names become the features') and an NPY
array; a file that is not rows of the model's input is one line naming what is wrong, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiedge.demo.model import DEMO_MODEL_NAME, write_demo_model
from aiedge.oci.image import MODEL_PATH_LABEL, read_config_labels, read_manifest_layers, unpack_layers
from aiedge.oci.registry import RegistryClient
from aiedge.serve.drift.profile import PROFILE_FILE, PROFILE_LABEL, parse_profile
from tests.cli.helpers import HOUSING, build, last_json

HOUSING_ROWS = Path("seed-gitops/acm/odh-edge/apps/tensorflow-housing-app/files/test-data.json")


def _unpacked(registry: str, repository: str, digest: str, dest: Path) -> tuple[dict[str, str], Path]:
    import asyncio

    async def pull() -> dict[str, str]:
        async with RegistryClient(registry) as reg:
            manifest, _ = await reg.get_manifest(repository, digest)
            config, layers = read_manifest_layers(manifest)
            await reg.fetch_blob(repository, config, dest / "config")
            paths = []
            for i, d in enumerate(layers):
                await reg.fetch_blob(repository, d, dest / f"layer{i}")
                paths.append(dest / f"layer{i}")
            unpack_layers(paths, dest / "root")
            return read_config_labels((dest / "config").read_bytes())

    dest.mkdir(parents=True, exist_ok=True)
    labels = asyncio.run(pull())
    return labels, dest / "root" / labels[MODEL_PATH_LABEL]


def test_housing_image_carries_the_profile_of_its_test_rows(
    shared: Path, registry: str, tmp_path: Path
) -> None:
    image = f"{registry}/drift/housing:1"
    out = build(str(shared / HOUSING), "--name", "tensorflow-housing", "--image", image,
                "--reference-data", str(shared / HOUSING_ROWS), "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "drift profile from 20 reference rows: 8 input and 1 output feature(s)" in out.stderr
    labels, model = _unpacked(registry, "drift/housing", last_json(out.stdout)["digest"], tmp_path)
    assert json.loads(labels[PROFILE_LABEL]) == {
        "format": "aiedge.drift-profile/v1", "file": PROFILE_FILE, "rows": 20, "inputs": 8, "outputs": 1,
    }  # fmt: skip
    profile = parse_profile((model / PROFILE_FILE).read_bytes())
    assert [(f.kind, f.name) for f in profile.features] == [
        *(("input", f"x[{i}]") for i in range(8)),
        ("output", "output_0"),
    ]
    assert (model / "saved_model.pb").is_file()  # the model is where it was, the profile beside it
    rows = np.asarray(json.loads((shared / HOUSING_ROWS).read_text())["data"])
    age = profile.features[2]
    assert age.rows == 20 and age.edges == tuple(np.unique(np.quantile(rows[:, 2], [0.25, 0.5, 0.75])))


def test_csv_names_and_npy_rows(registry: str, tmp_path: Path) -> None:
    model = write_demo_model(tmp_path / "model")
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(50, 8)).astype(np.float32)
    names = ["longitude", "latitude", "age", "rooms", "bedrooms", "population", "income", "value"]
    csv = tmp_path / "rows.csv"
    csv.write_text(",".join(names) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows) + "\n")
    out = build(str(model), "--name", DEMO_MODEL_NAME, "--image", f"{registry}/drift/demo:csv",
                "--reference-data", str(csv), "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    _, root = _unpacked(registry, "drift/demo", last_json(out.stdout)["digest"], tmp_path / "csv")
    profile = parse_profile((root / PROFILE_FILE).read_bytes())
    assert [f.name for f in profile.features] == [*names, "predictions"]
    assert [f.feature for f in profile.features][:2] == ["x[0]", "x[1]"]  # what live requests fill
    assert sum(profile.features[0].counts) == 50 and len(profile.features[0].counts) == 10

    npy = tmp_path / "rows.npy"
    np.save(npy, rows)
    out = build(str(model), "--name", DEMO_MODEL_NAME, "--image", f"{registry}/drift/demo:npy",
                "--reference-data", str(npy), "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("rows.json", b'{"data": [[1, 2, 3]]}', "3 numbers per row; the model's input x [-1, 8] takes 8"),
        ("rows.json", b'[[1, 2, 3, 4, 5, 6, 7, "eight"]]', 'row 0: "eight" is not a finite number or null'),
        (
            "rows.json",
            b'{"rows": []}',
            "want a list of rows, or an object with one of data, instances, inputs",
        ),
        ("rows.csv", b"a,b\n1,2\n3\n", "rows.csv:3: 1 columns, the first line has 2"),
        ("rows.csv", b"1,2,3,4,5,6,7,inf\n", "rows.csv:1:8: 'inf' is not a finite number"),
        ("rows.npy", b"\x93NUMPY not really", "not an NPY array"),
        ("rows.txt", b"1,2", "want a .csv, .npy or .json file"),
    ],
)
def test_bad_reference_data_is_one_line(
    registry: str, tmp_path: Path, name: str, content: bytes, error: str
) -> None:
    model = write_demo_model(tmp_path / "model")
    (tmp_path / name).write_bytes(content)
    out = build(str(model), "--name", DEMO_MODEL_NAME, "--image", f"{registry}/drift/bad:1",
                "--reference-data", str(tmp_path / name))  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert error in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and error in last, out.stderr


def test_pickled_npy_is_refused(registry: str, tmp_path: Path) -> None:
    model = write_demo_model(tmp_path / "model")
    np.save(tmp_path / "rows.npy", np.array([{"os": "system"}], dtype=object), allow_pickle=True)
    out = build(str(model), "--name", DEMO_MODEL_NAME, "--image", f"{registry}/drift/bad:2",
                "--reference-data", str(tmp_path / "rows.npy"))  # fmt: skip
    assert out.returncode == 1 and "not an NPY array without objects" in out.stderr, out.stderr
