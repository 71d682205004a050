"""docs/docker.md (the README's "Run with Docker" section) and deploy/secrets/generate."""

import shutil
import stat
import subprocess

import pytest

from conftest import ROOT, read_text


@pytest.mark.parametrize(
    "command",
    [
        "deploy/secrets/generate",
        "docker compose up --build",
        "--scale consumer=",
        "docker compose logs",
        "docker compose --profile proxy up",
        "down --volumes",
    ],
)
def test_docker_section_shows_each_command(command):
    text = read_text("docs/docker.md")
    assert text.startswith("## Run with Docker\n"), "docs/docker.md must be the section `## Run with Docker`"
    assert command in text, f"docs/docker.md must show `{command}`"


def test_generate_creates_readable_secrets_once(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    shutil.copy(ROOT / "deploy/secrets/generate", folder / "generate")
    subprocess.run([str(folder / "generate")], check=True, capture_output=True, timeout=30)
    password = (folder / "mysql_password").read_text()
    assert len(password) == 32 and password.isalnum(), f"a 32-character password without newline, got {password!r}"
    assert (folder / "mysql_root_password").read_text() != password, "root and the application need different passwords"
    redis = (folder / "redis_password").read_text()
    assert len(redis) == 32 and redis not in (password, (folder / "mysql_root_password").read_text()), (
        "Redis gets its own 32-character password"
    )
    assert stat.S_IMODE((folder / "redis_password").stat().st_mode) & stat.S_IROTH, (
        "redis_password must be readable by the containers' uid 65532 (mode 0644)"
    )
    mode = stat.S_IMODE((folder / "mysql_password").stat().st_mode)
    assert mode & stat.S_IROTH, "mysql_password must be readable by the containers' uid 65532 (mode 0644)"
    assert not stat.S_IMODE((folder / "mysql_root_password").stat().st_mode) & stat.S_IROTH, (
        "mysql_root_password is read by root only: mode 0600"
    )
    subprocess.run([str(folder / "generate")], check=True, capture_output=True, timeout=30)
    assert (folder / "mysql_password").read_text() == password, "a second run must keep the existing password"


def test_docker_section_states_what_a_redis_crash_can_cost_and_how_memory_is_bounded():
    text = read_text("docs/docker.md")
    for needle in ("appendfsync everysec", "about one second of acknowledged writes", "volatile-lru",
                   "REDIS_MAXMEMORY", "redis_password"):
        assert needle in text, f"docs/docker.md must say `{needle}`"
