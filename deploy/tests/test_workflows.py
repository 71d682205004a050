"""ci.yml and cd.yml do what issue 8 asks, and deploy/rolling-deploy deploys one host at a time.

(The GitHub workflow JSON schema itself is checked by check-jsonschema in
scripts/check-containers.)
"""

import os
import stat
import subprocess
import textwrap

import pytest

from conftest import ROOT, load_yaml


def triggers(workflow):
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    return workflow.get("on", workflow.get(True)) or {}


def run_lines(workflow):
    return "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job.get("steps", [])
    )


def uses(workflow):
    return [step.get("uses", "") for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.fixture(scope="module")
def ci():
    return load_yaml(".github/workflows/ci.yml")


@pytest.fixture(scope="module")
def cd():
    return load_yaml(".github/workflows/cd.yml")


def test_ci_runs_on_push_and_pull_request_to_main(ci):
    on = triggers(ci)
    for event in ("push", "pull_request"):
        assert "main" in (on.get(event) or {}).get("branches", []), f"ci.yml must run on {event} to main"
    assert "workflow_call" in on, "ci.yml must be callable, so that cd.yml deploys only checked commits"


@pytest.mark.parametrize(
    "command",
    [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets",
        "-D warnings",
        "scripts/test",
        "cargo audit",
        "scripts/check-terraform",
        "scripts/check-containers",
    ],
)
def test_ci_runs_each_check(ci, command):
    assert command in run_lines(ci), f"ci.yml must run `{command}`"


def test_ci_installs_the_tools_its_checks_need(ci):
    actions = uses(ci)
    assert any(a.startswith("dtolnay/rust-toolchain@") for a in actions), "ci.yml must install the Rust toolchain"
    assert any(a.startswith("hashicorp/setup-terraform@") for a in actions), (
        "ci.yml must install terraform for scripts/check-terraform"
    )
    components = [
        step.get("with", {}).get("components", "")
        for job in ci["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("dtolnay/rust-toolchain@")
    ]
    assert any("rustfmt" in c and "clippy" in c for c in components), "the lint job needs rustfmt and clippy"


def test_cd_builds_and_pushes_both_images_on_push_to_main(cd):
    assert "main" in (triggers(cd).get("push") or {}).get("branches", []), "cd.yml must run on push to main"
    images = cd["jobs"]["images"]
    assert images.get("needs") == "checks", "images must be built only after the CI checks pass"
    assert cd["jobs"]["checks"].get("uses") == "./.github/workflows/ci.yml", "cd.yml must call ci.yml first"
    assert sorted(images["strategy"]["matrix"]["component"]) == ["consumer", "producer"], (
        "cd.yml must build both images"
    )
    build = next(s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["file"] == "Dockerfile.${{ matrix.component }}", "each image from its own Dockerfile"
    assert build["with"]["push"] is True, "cd.yml must push the images"
    assert "${{ github.sha }}" in build["with"]["tags"], "images must be tagged with the commit SHA"
    assert "type=gha" in build["with"]["cache-from"], "builds must use the GitHub Actions layer cache"
    login = next(s for s in images["steps"] if s.get("uses", "").startswith("docker/login-action@"))
    assert login["with"]["registry"] == "${{ vars.REGISTRY }}", "the registry must come from a repository variable"
    assert "secrets." in login["with"]["password"], "registry credentials must come from secrets"


def test_cd_deploys_after_the_images_one_host_at_a_time(cd):
    deploy = cd["jobs"]["deploy"]
    assert deploy.get("needs") == "images", "deploy must wait for both images"
    assert "deploy/rolling-deploy" in run_lines({"jobs": {"deploy": deploy}}), "deploy must run deploy/rolling-deploy"
    assert "github.sha" in deploy["env"]["PRODUCER_IMAGE"], "deploy must roll out the images of this commit"
    assert cd.get("concurrency", {}).get("cancel-in-progress") is False, "a deploy must never be cancelled half-way"


def test_cd_can_deploy_from_the_bastions_own_runner(cd):
    """Issue 20: the deploy job runs on the bastion's self-hosted runner when chosen, so SSH
    need not be opened to GitHub-hosted runners."""
    deploy = cd["jobs"]["deploy"]
    runs_on = deploy["runs-on"]
    assert "fromJSON('[\"self-hosted\", \"bastion\"]')" in runs_on, f"deploy must be able to run on [self-hosted, bastion]: {runs_on}"
    assert "vars.DEPLOY_RUNNER == 'bastion'" in runs_on and "inputs.deploy_runner == 'bastion'" in runs_on, runs_on
    assert runs_on.rstrip(" }").endswith("'ubuntu-24.04'"), "a GitHub-hosted runner stays the default"
    dispatch = triggers(cd)["workflow_dispatch"]["inputs"]["deploy_runner"]
    assert dispatch["type"] == "choice" and "bastion" in dispatch["options"], dispatch
    ssh = next(s for s in deploy["steps"] if s.get("name", "").startswith("Configure SSH"))
    assert ssh["env"]["ON_BASTION"] == "${{ runner.environment == 'self-hosted' }}"
    assert 'echo "BASTION=" >> "$GITHUB_ENV"' in ssh["run"], "on the bastion, rolling-deploy connects directly"
    assert 'echo "BASTION=bastion" >> "$GITHUB_ENV"' in ssh["run"], "elsewhere, through the bastion"
    assert "BASTION" not in deploy["env"], "BASTION is decided by the step, not fixed for the job"
    cleanup = deploy["steps"][-1]
    assert cleanup.get("if") == "always()" and "rm -f ~/.ssh/deploy_key" in cleanup["run"], (
        "the key must be removed even on failure: a self-hosted runner keeps its home"
    )


# --- deploy/rolling-deploy against fake hosts --------------------------------

FAKE_SSH = """\
#!/usr/bin/env bash
# Stands in for ssh: runs the remote command locally in a folder per host.
jump=
while [[ $1 == -* ]]; do
  case $1 in
    -J) jump=$2; shift 2 ;;
    -o) shift 2 ;;
    *) shift ;;
  esac
done
host=${1#*@}
shift
echo "$host ssh jump=$jump" >>"$FAKE_LOG"
mkdir -p "$FAKE_ROOT/$host"
cd "$FAKE_ROOT/$host"
export FAKE_HOST=$host
exec bash -c "$*"
"""

FAKES = {
    "sudo": 'exec "$@"\n',
    "docker": 'echo "$FAKE_HOST docker $*" >>"$FAKE_LOG"\n',
    "systemctl": 'echo "$FAKE_HOST systemctl $* $(tr "\\n" " " < images.env)" >>"$FAKE_LOG"\n',
    "journalctl": "exit 0\n",
    "curl": 'if [[ " $FAKE_UNHEALTHY " == *" $FAKE_HOST "* ]]; then exit 7; fi\n'
    'echo "$FAKE_HOST ready" >>"$FAKE_LOG"\n',
}


def write_executable(path, body):
    path.write_text("#!/usr/bin/env bash\n" + body if not body.startswith("#!") else body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def rolling_deploy(tmp_path, hosts, unhealthy=""):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_executable(bin_dir / "ssh", FAKE_SSH)
    for name, body in FAKES.items():
        write_executable(bin_dir / name, body)
    root = tmp_path / "hosts"
    for host in hosts.replace(",", " ").split():
        (root / host).mkdir(parents=True)
        (root / host / "images.env").write_text("PRODUCER_IMAGE=old/p:1\nCONSUMER_IMAGE=old/c:1\n")
    log = tmp_path / "log"
    log.touch()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SSH": str(bin_dir / "ssh"),
        "FAKE_ROOT": str(root),
        "FAKE_LOG": str(log),
        "FAKE_UNHEALTHY": unhealthy,
        "HTTP_HOSTS": hosts,
        "PRODUCER_IMAGE": "reg.example/team/registry-producer:abc123",
        "CONSUMER_IMAGE": "reg.example/team/registry-consumer:abc123",
        "BASTION": "bastion",
        "IMAGES_ENV": "images.env",
        "HEALTH_TIMEOUT_SECS": "0",
        "LB_SETTLE_SECS": "0",
    }
    result = subprocess.run(
        [str(ROOT / "deploy/rolling-deploy")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return result, log.read_text().splitlines(), root


def test_rolling_deploy_updates_every_host_in_turn(tmp_path):
    result, log, root = rolling_deploy(tmp_path, "10.0.1.10, 10.0.2.10")
    assert result.returncode == 0, f"deploy failed: {result.stdout}{result.stderr}"
    hosts = [line.split()[0] for line in log]
    assert hosts.index("10.0.2.10") > max(i for i, h in enumerate(hosts) if h == "10.0.1.10"), (
        f"the second host must be touched only after the first is ready: {log}"
    )
    for host in ("10.0.1.10", "10.0.2.10"):
        assert f"{host} ssh jump=bastion" in log, f"{host} must be reached through the bastion: {log}"
        assert f"{host} docker pull --quiet reg.example/team/registry-producer:abc123" in log, f"{log}"
        assert f"{host} docker pull --quiet reg.example/team/registry-consumer:abc123" in log, f"{log}"
        assert (root / host / "images.env").read_text() == (
            "PRODUCER_IMAGE=reg.example/team/registry-producer:abc123\n"
            "CONSUMER_IMAGE=reg.example/team/registry-consumer:abc123\n"
        ), f"{host}: images.env must name the new images"
        restart = log.index(next(line for line in log if line.startswith(f"{host} systemctl restart registry")))
        assert log.index(f"{host} ready") > restart, f"{host} must be checked for readiness after the restart"


def test_rolling_deploy_stops_at_an_unhealthy_host_and_rolls_it_back(tmp_path):
    result, log, root = rolling_deploy(tmp_path, "10.0.1.10 10.0.2.10", unhealthy="10.0.1.10")
    assert result.returncode != 0, "a host that never gets ready must fail the deploy"
    assert not any(line.startswith("10.0.2.10") for line in log), (
        f"the second host must not be touched after the first failed: {log}"
    )
    assert (root / "10.0.1.10" / "images.env").read_text() == "PRODUCER_IMAGE=old/p:1\nCONSUMER_IMAGE=old/c:1\n", (
        "the failed host must be rolled back to its previous images"
    )
    restarts = [line for line in log if "systemctl restart registry" in line]
    assert len(restarts) == 2 and "old/p:1" in restarts[-1], f"the rollback must restart the old images: {restarts}"


def test_rolling_deploy_refuses_to_run_without_hosts(tmp_path):
    result, log, _ = rolling_deploy(tmp_path, " , ")
    assert result.returncode != 0 and not log, textwrap.shorten(
        f"an empty HTTP_HOSTS must fail before any ssh: {result.stderr} {log}", 300
    )
