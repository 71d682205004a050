"""Dockerfile.producer, Dockerfile.consumer, .dockerignore and .hadolint.yaml."""

import re

import pytest
import yaml

from conftest import read_text

COMPONENTS = ("producer", "consumer")


def stages(dockerfile_text):
    """[(from line, [instructions])] with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile_text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append((line, []))
        elif result:
            result[-1][1].append(line)
    return result


@pytest.mark.parametrize("name", COMPONENTS)
def test_dockerfile_builds_in_stages_with_cached_dependencies(name):
    text = read_text(f"Dockerfile.{name}")
    all_stages = stages(text)
    assert len(all_stages) >= 2, f"Dockerfile.{name} must be a multi-stage build"
    assert re.match(r"FROM rust:1\.95-(slim-)?bookworm\b", all_stages[0][0]), (
        f"Dockerfile.{name} must build with rust:1.95-bookworm or rust:1.95-slim-bookworm"
    )
    assert "cargo chef cook" in text or "--mount=type=cache" in text, (
        f"Dockerfile.{name} must cache dependencies (cargo-chef or BuildKit cache mounts)"
    )
    cook = text.find("cargo chef cook")
    assert cook == -1 or cook < text.find(f"cargo build --release --locked --bin {name}"), (
        f"Dockerfile.{name}: dependencies must be cooked before the sources are built"
    )
    assert f"--bin {name}" in text, f"Dockerfile.{name} must build the {name} binary"


@pytest.mark.parametrize("name", COMPONENTS)
def test_runtime_stage_is_small_non_root_and_health_checked(name):
    from_line, instructions = stages(read_text(f"Dockerfile.{name}"))[-1]
    assert re.search(r"gcr\.io/distroless/cc-debian12|debian:bookworm-slim", from_line), (
        f"Dockerfile.{name}: the runtime image must be small (distroless cc or bookworm-slim), is {from_line!r}"
    )
    users = [i.split()[1] for i in instructions if i.upper().startswith("USER ")]
    assert users, f"Dockerfile.{name}: the runtime stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"Dockerfile.{name}: USER must be a numeric non-root uid, is {users[-1]}"
    checks = [i for i in instructions if i.upper().startswith("HEALTHCHECK ")]
    assert len(checks) == 1, f"Dockerfile.{name}: the runtime stage needs one HEALTHCHECK"
    assert f'CMD ["/usr/local/bin/{name}", "healthcheck"]' in checks[0], (
        f"Dockerfile.{name}: HEALTHCHECK must run `{name} healthcheck` (exec form: no shell in distroless)"
    )
    copies = [i for i in instructions if i.upper().startswith(("COPY ", "ADD "))]
    assert copies and all("--from=" in c for c in copies), (
        f"Dockerfile.{name}: the runtime stage may only copy build output from earlier stages, copies {copies}"
    )
    assert not any(re.match(r"RUN\b", i) for i in instructions), (
        f"Dockerfile.{name}: no RUN in the runtime stage (no package manager, no build tools)"
    )
    assert any(re.match(rf'ENTRYPOINT \["/usr/local/bin/{name}"\]', i) for i in instructions), (
        f"Dockerfile.{name}: ENTRYPOINT must be the binary, so `docker compose run {name} <args>` works"
    )


@pytest.mark.parametrize("name", COMPONENTS)
def test_dockerfile_holds_no_secret(name):
    for _, instructions in stages(read_text(f"Dockerfile.{name}")):
        for instruction in instructions:
            if re.match(r"(ARG|ENV)\b", instruction):
                assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY\b", instruction, re.I), (
                    f"Dockerfile.{name}: {instruction!r} would bake a secret into the image"
                )


def dockerignore_excludes(patterns, path):
    """Docker's rule: the last matching pattern wins; a pattern also matches everything under a match."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        regex = regex.replace("\0/", "(.*/)?").replace("\0", ".*")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def dockerignore_patterns(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


MUST_LEAVE_OUT = [
    "target/release/producer",
    "registry/target/debug/x",
    ".git/config",
    ".venv/tools/bin/python",
    ".data/mysql/ibdata1",
    "deploy/secrets/mysql_password",
    "frontend/node_modules/playwright/index.js",
    "frontend/tests/app.spec.js",
    "terraform/aws/main.tf",
    "README.md",
]
MUST_KEEP = [
    "Cargo.toml",
    "Cargo.lock",
    "registry/Cargo.toml",
    "registry/src/lib.rs",
    "producer/src/main.rs",
    "consumer/src/main.rs",
    "frontend/index.html",
    "frontend/api.js",
]


def test_dockerignore_sends_only_what_the_builds_need():
    patterns = dockerignore_patterns(read_text(".dockerignore"))
    for path in MUST_LEAVE_OUT:
        assert dockerignore_excludes(patterns, path), f".dockerignore must leave {path} out of the build context"
    for path in MUST_KEEP:
        assert not dockerignore_excludes(patterns, path), f".dockerignore must keep {path} in the build context"


def workspace_members(cargo_toml_text):
    """The `members` of the root Cargo.toml's [workspace]."""
    match = re.search(r"^members\s*=\s*\[([^\]]*)\]", cargo_toml_text, re.M)
    assert match, "Cargo.toml must list its workspace members"
    return re.findall(r'"([^"]+)"', match.group(1))


@pytest.mark.parametrize("name", COMPONENTS)
def test_every_workspace_member_reaches_both_build_stages(name):
    """Cargo refuses a workspace with a member's folder missing, so each stage that runs
    cargo must copy every member, and .dockerignore must let each one in."""
    members = workspace_members(read_text("Cargo.toml"))
    assert {"registry", "producer", "consumer"} <= set(members), members
    patterns = dockerignore_patterns(read_text(".dockerignore"))
    for member in members:
        assert not dockerignore_excludes(patterns, f"{member}/Cargo.toml"), (
            f".dockerignore must keep the workspace member {member}/ in the build context"
        )
    for from_line, instructions in stages(read_text(f"Dockerfile.{name}")):
        if not any("cargo chef" in i or "cargo build" in i for i in instructions):
            continue
        copied = {i.split()[1] for i in instructions if i.upper().startswith("COPY ") and "--from" not in i}
        missing = [m for m in members if m not in copied]
        assert not missing, f"Dockerfile.{name} stage `{from_line}` runs cargo without copying {missing}"


def test_dockerignore_check_notices_a_leak():
    patterns = dockerignore_patterns(read_text(".dockerignore")) + ["!deploy/"]
    assert not dockerignore_excludes(patterns, "deploy/secrets/mysql_password"), (
        "the .dockerignore evaluator must see that `!deploy/` lets the secret in"
    )


def hadolint_ignore_problems(text):
    """Every rule in `ignored:` needs a reason in a comment on its line."""
    config = yaml.safe_load(text) or {}
    ignored = config.get("ignored") or []
    problems = []
    for rule in ignored:
        lines = [line for line in text.splitlines() if re.match(rf"\s*-\s*{re.escape(rule)}\b", line)]
        if not lines or not re.search(r"#\s*\S.{8,}", lines[0]):
            problems.append(f"ignored rule {rule} has no reason (write `- {rule}  # why`)")
    return problems


def test_every_ignored_hadolint_rule_has_a_reason():
    problems = hadolint_ignore_problems(read_text(".hadolint.yaml"))
    assert not problems, ".hadolint.yaml: " + "; ".join(problems)


def test_hadolint_reason_check_notices_a_bare_ignore():
    text = "ignored:\n  - DL3008  # apt versions change with every Debian point release\n  - DL3059\n"
    assert hadolint_ignore_problems(text) == ["ignored rule DL3059 has no reason (write `- DL3059  # why`)"], (
        "a rule ignored without a comment must be reported"
    )
