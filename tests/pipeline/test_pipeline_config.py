"""The pipeline config: validation that names the bad key, paths, the packaged demo and docker configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skd.cli.main import app
from skd.core.errors import ConfigError
from skd.core.settings import Settings
from skd.graph_schema.relations import PAPER_RELATIONS
from skd.graph_schema.triples_io import read_triples
from skd.pipeline.config import config_hash, load_config, parse_config
from skd.pipeline.data import split_heldout, take_events
from skd.pipeline.runner import demo_config
from skd.pipeline.stages import STAGES

DOCKER_CONFIG = Path(__file__).resolve().parents[2] / "docker" / "config" / "pipeline.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"critic\.recal_level: unknown key"):
        load_config(write(tmp_path, "[critic]\nrecal_level = 0.5\n"))
    with pytest.raises(ConfigError, match=r"studnet: unknown key"):
        load_config(write(tmp_path, "[studnet]\nmax_steps = 5\n"))


def test_a_bad_value_is_named_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"events\.n: Input should be greater than or equal to 1"):
        load_config(write(tmp_path, "[events]\nn = 0\n"))
    with pytest.raises(ConfigError, match=r"critic\.recall_level: .*less than or equal to 1"):
        load_config(write(tmp_path, "[critic]\nrecall_level = 1.5\n"))
    with pytest.raises(ConfigError, match=r"run\.relations: .*unknown relation 'xWants'"):
        load_config(write(tmp_path, '[run]\nrelations = ["xWant", "xWants"]\n'))
    with pytest.raises(ConfigError, match=r"critic\.mode: .*unknown critic mode 'full'"):
        load_config(write(tmp_path, '[critic]\nmode = "full"\n'))
    # every problem at once, not one per run
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[events]\nn = -1\nmax_tokens = 0\n"))
    assert "events.n" in str(info.value) and "events.max_tokens" in str(info.value)


def test_bad_toml_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[run\nname = 1\n"))
    with pytest.raises(ConfigError, match="cannot read pipeline config"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="no bundled data file"):
        parse_config({}).resolve("bundled:nope.tsv")


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[run]\ndir = "runs/a"\n[events]\nfile = "ev.txt"\n'))
    assert cfg.run_dir(Path("/elsewhere")) == tmp_path.resolve() / "runs" / "a"
    assert cfg.resolve(cfg.events.file) == tmp_path.resolve() / "ev.txt"
    assert parse_config({"run": {"name": "x"}}).run_dir(Path("/d")) == Path("/d/runs/x")


def test_each_stage_hashes_only_its_part() -> None:
    s = Settings()
    base = parse_config({})
    changed = parse_config({"student": {"max_steps": 7}})
    differs = [st.name for st in STAGES if config_hash(st.part(base, s)) != config_hash(st.part(changed, s))]
    assert differs == ["student"]
    teacher = parse_config({"teacher": {"model": "openai:m", "base_url": "http://x/v1"}})
    differs = [st.name for st in STAGES if config_hash(st.part(base, s)) != config_hash(st.part(teacher, s))]
    assert differs == ["events", "inferences"]
    capped = parse_config({"teacher": {"max_cost": 5.0, "concurrency": 4}})
    assert all(config_hash(st.part(base, s)) == config_hash(st.part(capped, s)) for st in STAGES)
    other_graph = s.model_copy(update={"graph_uri": "neo4j://db:7687"})
    assert [st.name for st in STAGES if config_hash(st.part(base, s)) != config_hash(st.part(base, other_graph))] == [
        "load"
    ]


def test_the_demo_config_is_packaged_small_and_uses_bundled_data() -> None:
    cfg = load_config(demo_config())
    assert cfg.run.relation_names == list(PAPER_RELATIONS)
    assert cfg.teacher.model == "smollm2" and cfg.critic.encoder == "all-MiniLM-L6-v2"
    assert cfg.events.n <= 50 and cfg.student.max_steps <= 100
    bundled = cfg.resolve(cfg.critic.bootstrap)
    triples = [n.triple for n in read_triples(bundled)]
    assert {t.relation for t in triples} == set(PAPER_RELATIONS)
    assert cfg.resolve(cfg.evaluate.references) == bundled


def test_the_docker_config_validates_with_an_openai_teacher() -> None:
    cfg = load_config(DOCKER_CONFIG)
    assert cfg.teacher.model.startswith("openai:") and cfg.teacher.base_url
    assert cfg.events.n >= 10_000
    assert cfg.teacher.settings_overrides()["teacher_base_url"] == cfg.teacher.base_url


def test_heldout_split_is_fixed_whole_events_and_never_empty() -> None:
    cfg = load_config(demo_config())
    triples = [n.triple for n in read_triples(cfg.resolve(cfg.evaluate.references))]
    rest, held = split_heldout(triples, 12, seed=0)
    assert len({t.head for t in held}) == 12 and not {t.head for t in held} & {t.head for t in rest}
    assert len(rest) + len(held) == len(triples)
    assert split_heldout(triples, 12, seed=0)[1] == held and split_heldout(triples, 12, seed=1)[1] != held
    assert len({t.head for t in take_events(rest, 5, seed=0)}) == 5


def test_cli_reports_a_bad_config_naming_the_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pipeline", str(write(tmp_path, "[load]\nenable = false\n"))])
    assert result.exit_code != 0
    assert "load.enable: unknown key" in result.output
