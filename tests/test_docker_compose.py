"""docker/docker-compose.yml is valid YAML, and each teacher profile's job reaches its server with the
settings the README gives (no Docker engine here: what can be checked is the file itself)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "docker-compose.yml"

# profile: (teacher service, image, API mode, the port it listens on inside the compose network)
TEACHERS = {
    "vllm": ("vllm", "vllm/vllm-openai:latest", "completion", 8001),
    "ollama": ("ollama", "ollama/ollama:latest", "chat", 11434),
    "llamacpp": ("llamacpp", "ghcr.io/ggml-org/llama.cpp:server", "completion", 8080),
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return dict(compose["services"])


def test_the_core_services_are_there(services: dict[str, Any]) -> None:
    assert {"neo4j", "service", "ingest", "demo"} <= set(services)
    assert services["service"]["environment"]["SKD_GRAPH_URI"] == "neo4j://neo4j:7687"


@pytest.mark.parametrize("profile", sorted(TEACHERS))
def test_each_teacher_profile_has_a_server_and_a_job_that_reaches_it(services: dict[str, Any], profile: str) -> None:
    name, image, mode, port = TEACHERS[profile]
    server = services[name]
    assert server["image"] == image and profile in server["profiles"]
    check = " ".join(map(str, server["healthcheck"]["test"]))
    assert str(port) in check or check == "CMD ollama list"  # the ollama CLI asks its own default port
    job = services[f"generate-{profile}"]
    assert job["profiles"] == [profile] and job["image"] == "skd:latest"
    env = job["environment"]
    url = urlsplit(env["SKD_TEACHER_BASE_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", name, port, "/v1")
    assert env["SKD_TEACHER_API_MODE"] == mode and env["SKD_TEACHER_MODEL"]
    assert env["SKD_GRAPH_URI"] == "neo4j://neo4j:7687"  # the shared settings are merged, not replaced
    assert name in job["depends_on"] or f"{name}-pull" in job["depends_on"]
    command = " ".join(job["command"])
    assert "skd generate events --teacher openai:" in command and "skd generate inferences" in command


def test_the_servers_listen_where_the_jobs_look(services: dict[str, Any]) -> None:
    vllm = services["vllm"]["command"]
    assert vllm[vllm.index("--port") + 1] == "8001" and "--model" in vllm
    llamacpp = services["llamacpp"]["command"]
    assert llamacpp[llamacpp.index("--port") + 1] == "8080"
    assert llamacpp[llamacpp.index("--model") + 1].startswith("/models/") and ".gguf" in " ".join(llamacpp)
    assert any(v.endswith(":/models:ro") for v in services["llamacpp"]["volumes"])
    pull = services["ollama-pull"]
    assert pull["command"][0] == "pull" and pull["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert services["generate-ollama"]["depends_on"]["ollama-pull"]["condition"] == "service_completed_successfully"
    # the older profile names still start the servers alone
    assert "teacher-gpu" in services["vllm"]["profiles"] and "teacher" in services["ollama"]["profiles"]


def test_the_pipeline_config_points_at_the_vllm_service() -> None:
    config = tomllib.loads((ROOT / "docker" / "config" / "pipeline.toml").read_text(encoding="utf-8"))
    assert config["teacher"]["base_url"] == "http://vllm:8001/v1" and config["teacher"]["api_mode"] == "completion"
