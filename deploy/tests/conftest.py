"""Shared loaders for the packaging tests (run by scripts/check-containers)."""

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(os.environ.get("CHECK_ROOT", Path(__file__).resolve().parents[2]))

_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value):
    """Resolves `${VAR:-default}` to its default everywhere, as Compose does with an empty environment."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: m.group(2) or "", value).replace("$$", "$")
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def load_yaml(relative):
    path = ROOT / relative
    assert path.is_file(), f"{relative} is missing"
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def compose_raw():
    """compose.yml as written (variables not resolved)."""
    return load_yaml("compose.yml")


@pytest.fixture()
def compose(compose_raw):
    """compose.yml with `${VAR:-default}` resolved; a fresh copy for each test."""
    return copy.deepcopy(interpolate(compose_raw))


def environment(service):
    """A service's environment as a dict, whichever syntax it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def read_text(relative):
    path = ROOT / relative
    assert path.is_file(), f"{relative} is missing"
    return path.read_text(encoding="utf-8")
