"""The sample export read as a dermatologist would (issue 15): the label mistakes once found in it stay fixed.

Reads the session's sample build (tests/conftest.py `sample_build`): the warehouse snapshot after the first
build and the export it wrote.
"""

from __future__ import annotations

import csv

import duckdb
import pytest


@pytest.fixture(scope="module")
def captions(sample_build) -> dict[str, dict[str, str]]:
    con = duckdb.connect(str(sample_build["snapshot"]), read_only=True)
    cols = ["caption", "disease_label", "body_location", "skin_concept", "age", "gender", "skin_tone"]
    rows = con.execute(f"SELECT pair_id, {', '.join(cols)} FROM augment_captions").fetchall()
    con.close()
    return {r[0]: dict(zip(cols, r[1:], strict=True)) for r in rows}


def find(captions: dict[str, dict[str, str]], needle: str) -> list[dict[str, str]]:
    hits = [row for row in captions.values() if needle in row["caption"]]
    assert hits, f"no sample caption contains {needle!r}"
    return hits


def test_dataset_label_maps_are_honoured(captions) -> None:
    for row in find(captions, "vascular lesion"):  # HAM10000's vasc
        assert row["disease_label"] != "no definitive diagnosis", row


def test_no_gender_from_a_misheard_blue_white_veil(captions) -> None:
    for row in find(captions, "blue -white male"):
        assert row["gender"] == "No gender information", row


@pytest.mark.parametrize(("needle", "age", "gender"), [
    ("Stuck-on brown warty spot on my back, 62F", "62", "female"),
    ("White patches spreading on my hands. 34M", "34", "male"),
    ("Crusty growing lump on the back of my hand, 74M", "74", "male"),
])  # fmt: skip
def test_age_and_sex_shorthand(captions, needle: str, age: str, gender: str) -> None:
    for row in find(captions, needle):
        assert (row["age"], row["gender"]) == (age, gender), row


def test_skin_tone_is_read_when_stated(captions) -> None:
    assert {row["skin_tone"] for row in find(captions, "34M, darker skin")} == {"dark skin"}
    assert any(row["skin_tone"] != "No skin tone information" for row in captions.values())


def test_no_image_is_exported_twice_with_the_same_caption(sample_build) -> None:
    out = sample_build["cfg"].data_dir / "export"
    seen: dict[tuple[str, str], str] = {}
    for split in ("train", "validation"):
        with open(out / f"{split}.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                key = (row["filename"], row["caption"])
                assert key not in seen, f"{key} twice ({seen.get(key)} and {split})"
                seen[key] = split
    assert seen


def test_a_psoriasis_lecture_scene_is_psoriasis_not_a_nail_sign(captions) -> None:
    for row in find(captions, "nail pitting"):
        assert row["disease_label"] != "nail pitting" and "psoriasis" in row["disease_label"], row


def test_acral_is_a_body_site(captions) -> None:
    for row in find(captions, "on the acral"):
        assert "acral" in row["body_location"] and "acral" not in row["skin_concept"], row
