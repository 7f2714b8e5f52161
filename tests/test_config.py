import pytest

from pipeline.config import RunConfig, load_config
from pipeline.errors import ConfigError


def test_sample_profile_resolves_against_repo(repo):
    cfg = load_config(repo / "configs" / "sample.yaml")
    assert cfg.collect.sources.videos == [repo / "samples" / "videos"]
    assert cfg.warehouse == repo / "warehouse" / "derm1m.duckdb"


def test_profile_outside_repo_uses_its_root(tmp_path):
    (tmp_path / "vids").mkdir()
    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\ncollect: {sources: {videos: [vids]}}\n")
    assert load_config(prof).collect.sources.videos == [tmp_path / "vids"]


def test_bad_profiles_fail_clearly(tmp_path):
    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\ncollect: {sources: {videos: [nowhere]}}\n")
    with pytest.raises(ConfigError, match="not found"):
        load_config(prof)
    prof.write_text("clean: {min_side_pxx: 3}\n")
    with pytest.raises(ConfigError, match="min_side_pxx"):
        load_config(prof)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "absent.yaml")


def test_stage_hash_tracks_only_its_section():
    a, b = RunConfig(), RunConfig()
    b.clean.min_side_px = 10
    assert a.stage_hash("clean") != b.stage_hash("clean")
    assert a.stage_hash("pair") == b.stage_hash("pair")
    b.workers = 8
    assert a.stage_hash("pair") == b.stage_hash("pair")


def test_classifier_model_path_resolves_but_a_pretrained_tag_stays(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "clip.pt").write_bytes(b"x")
    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\nclean: {image_type: {backend: densenet, model_path: models/dn.pt}}\n")
    assert load_config(prof).image_type.model_path == tmp_path / "models" / "dn.pt"
    prof.write_text("root: .\nclean: {image_type: {backend: clip, model_path: models/clip.pt}}\n")
    assert load_config(prof).image_type.model_path == tmp_path / "models" / "clip.pt"
    prof.write_text("root: .\nclean: {image_type: {backend: clip, model_path: laion2b_s34b_b79k}}\n")
    assert str(load_config(prof).image_type.model_path) == "laion2b_s34b_b79k"


def test_recipes_are_validated_when_the_profile_loads(tmp_path):
    from pipeline.config import Recipe

    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\ntrain: {recipe: {epochs: 0}}\n")
    with pytest.raises(ConfigError, match="epochs"):
        load_config(prof)
    prof.write_text("root: .\ntrain: {recipe: recipes/tiny.yaml}\n")
    with pytest.raises(ConfigError, match="cannot read training recipe"):
        load_config(prof)
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny.yaml").write_text("epochs: 2\nmicro_batch_sise: 8\n")
    with pytest.raises(ConfigError, match="micro_batch_sise"):
        load_config(prof)
    (tmp_path / "recipes" / "tiny.yaml").write_text("epochs: 2\nmicro_batch_size: 8\n")
    assert load_config(prof).train.recipe == tmp_path / "recipes" / "tiny.yaml"
    prof.write_text("root: .\ntrain: {recipe: {epochs: 2}}\n")
    assert load_config(prof).train.recipe == Recipe(epochs=2)


def test_profiles_of_the_old_training_loop_load_into_the_recipe():
    cfg = RunConfig.model_validate({"train": {"model": "DermTiny", "epochs": 5, "batch_size": 8, "lr": 1e-3,
                                              "seed": 3, "image_size": 64, "val_fraction": 0.3}})
    r = cfg.train.recipe
    assert (r.epochs, r.global_batch_size, r.micro_batch_size, r.lr, r.seed) == (5, 8, 8, 1e-3, 3)
    assert (cfg.train.split_seed, cfg.train.val_fraction) == (3, 0.3)
    with pytest.raises(ValueError, match="recipe file"):
        RunConfig.model_validate({"train": {"epochs": 5, "recipe": "configs/train_dermlip.yaml"}})


def test_a_misspelled_dataset_csv_is_a_config_error(tmp_path):
    (tmp_path / "ham").mkdir()
    (tmp_path / "ham" / "metadata.csv").write_text("image_id,dx\n")
    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\ncollect: {sources: {datasets: [{name: ham, path: ham, csv: metadata.cvs}]}}\n")
    with pytest.raises(ConfigError, match="metadata.cvs"):
        load_config(prof)
