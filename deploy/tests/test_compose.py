"""What compose.yml must guarantee (issue 8), read with PyYAML.

Each rule returns the list of problems it finds; the tests assert that the real
compose.yml has none, and that each rule does find the fault it is about in a
broken copy (so that these checks can fail).
"""

import ipaddress
import re
import subprocess

import pytest

from conftest import ROOT, environment, read_text

APP_SERVICES = ("producer", "consumer")
HEALTH_CHECKED = ("redis", "mysql", "producer", "consumer", "nginx")
SECRET_TARGET = "/run/secrets/mysql_password"
REDIS_SECRET_TARGET = "/run/secrets/redis_password"


def services(compose):
    return compose.get("services") or {}


def image_problems(compose):
    problems = []
    redis = services(compose).get("redis", {}).get("image", "")
    name, _, tag = redis.removeprefix("docker.io/library/").partition(":")
    if name != "redis":
        problems.append(f"redis must use the official image `redis:<tag>`, not {redis!r}")
    if tag in ("", "latest"):
        problems.append(f"redis image {redis!r} must name a version")
    mysql = services(compose).get("mysql", {}).get("image", "")
    if not re.fullmatch(r"(docker\.io/library/)?mysql:8\.4(\.\d+)?", mysql):
        problems.append(f"mysql must use the official image mysql:8.4, not {mysql!r}")
    return problems


def named_volume_at(compose, service, target):
    declared = compose.get("volumes") or {}
    for volume in services(compose).get(service, {}).get("volumes") or []:
        source, _, rest = volume.partition(":") if isinstance(volume, str) else (
            volume.get("source", ""), "", volume.get("target", ""))
        if rest.split(":")[0] == target and source in declared:
            return source
    return None


def redis_command(compose):
    """The redis service's entrypoint and command as one string (list or shell form)."""
    redis = services(compose).get("redis", {})
    parts = []
    for key in ("entrypoint", "command"):
        value = redis.get(key) or []
        parts.extend([value] if isinstance(value, str) else value)
    return " ".join(str(p) for p in parts)


def persistence_problems(compose):
    problems = []
    command = redis_command(compose)
    if not re.search(r"--appendonly\s+yes\b", command):
        problems.append(f"redis must run with `--appendonly yes` (AOF), command is {command!r}")
    if not re.search(r"--appendfsync\s+everysec\b", command):
        problems.append("redis must say which fsync it runs: `--appendfsync everysec` (docs/docker.md states its cost)")
    if not named_volume_at(compose, "redis", "/data"):
        problems.append("redis needs a named volume at /data (where the AOF lives)")
    if not named_volume_at(compose, "mysql", "/var/lib/mysql"):
        problems.append("mysql needs a named volume at /var/lib/mysql")
    return problems


def eviction_problems(compose):
    """Issue 19: only keys with a TTL (the cache) may be evicted, within a stated maxmemory."""
    command = redis_command(compose)
    problems = []
    if not re.search(r"--maxmemory-policy\s+volatile-lru\b", command):
        problems.append(f"redis must run with `--maxmemory-policy volatile-lru`, command is {command!r}")
    if not re.search(r"--maxmemory\s+\S+", command):
        problems.append("redis needs a `--maxmemory` (the eviction policy acts only under it)")
    return problems


def redis_password_problems(compose):
    """Issue 20: Redis has a password, from a secret file, never on a command line."""
    problems = []
    redis = services(compose).get("redis", {})
    command = redis_command(compose)
    mounted = {s if isinstance(s, str) else s.get("source") for s in redis.get("secrets") or []}
    if "redis_password" not in mounted:
        problems.append("redis must mount the secret redis_password")
    if "requirepass" not in command or "/run/secrets/redis_password" not in command:
        problems.append("redis must set requirepass from /run/secrets/redis_password")
    if re.search(r"--requirepass\b", command):
        problems.append("redis must not take its password on the command line (`ps` shows it): write a config file")
    test = " ".join((redis.get("healthcheck") or {}).get("test") or [])
    if "REDISCLI_AUTH" not in test or re.search(r"redis-cli\b[^|]*\s-a\s", test):
        problems.append(f"redis's health check must authenticate through REDISCLI_AUTH, not `-a`: {test!r}")
    return problems


def healthcheck_problems(compose):
    problems = []
    for name in HEALTH_CHECKED:
        check = services(compose).get(name, {}).get("healthcheck") or {}
        test = check.get("test")
        if not test or check.get("disable") or test in (["NONE"], "NONE"):
            problems.append(f"service {name} needs a health check, has {check!r}")
    for name in APP_SERVICES:
        test = (services(compose).get(name, {}).get("healthcheck") or {}).get("test") or []
        if f"/usr/local/bin/{name}" not in test or "healthcheck" not in test:
            problems.append(f"{name}'s health check must run `{name} healthcheck`, runs {test!r}")
    return problems


def dependency_problems(compose):
    problems = []
    for name in APP_SERVICES:
        depends = services(compose).get(name, {}).get("depends_on") or {}
        for needed in ("redis", "mysql"):
            condition = depends.get(needed, {}).get("condition") if isinstance(depends, dict) else None
            if condition != "service_healthy":
                problems.append(f"{name} must wait for {needed} with condition service_healthy, has {condition!r}")
    return problems


def secret_problems(compose):
    problems = []
    for name in ("mysql_password", "redis_password"):
        secret = (compose.get("secrets") or {}).get(name) or {}
        if not str(secret.get("file", "")).startswith("./deploy/secrets/"):
            problems.append(f"secret {name} must be a file under ./deploy/secrets/, is {secret!r}")
    for name in APP_SERVICES:
        service = services(compose).get(name, {})
        mounted = {s if isinstance(s, str) else s.get("source") for s in service.get("secrets") or []}
        if "redis_password" not in mounted:
            problems.append(f"service {name} must mount the secret redis_password, mounts {sorted(mounted)}")
        value = environment(service).get("REDIS_PASSWORD_FILE")
        if value != REDIS_SECRET_TARGET:
            problems.append(f"{name}: REDIS_PASSWORD_FILE must be {REDIS_SECRET_TARGET}, is {value!r}")
    for name in ("mysql", *APP_SERVICES):
        service = services(compose).get(name, {})
        mounted = {s if isinstance(s, str) else s.get("source") for s in service.get("secrets") or []}
        if "mysql_password" not in mounted:
            problems.append(f"service {name} must mount the secret mysql_password, mounts {sorted(mounted)}")
        value = environment(service).get("MYSQL_PASSWORD_FILE")
        if value != SECRET_TARGET:
            problems.append(f"{name}: MYSQL_PASSWORD_FILE must be {SECRET_TARGET}, is {value!r}")
    root = environment(services(compose).get("mysql", {})).get("MYSQL_ROOT_PASSWORD_FILE", "")
    if not str(root).startswith("/run/secrets/"):
        problems.append(f"mysql: MYSQL_ROOT_PASSWORD_FILE must point into /run/secrets/, is {root!r}")
    return problems


FORBIDDEN = ("MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD", "MYSQL_RANDOM_ROOT_PASSWORD")


def plain_password_problems(compose):
    problems = []
    for name, service in services(compose).items():
        env = environment(service)
        if service.get("env_file"):
            problems.append(f"{name}: env_file could carry passwords; use secrets")
        for key, value in env.items():
            if key in FORBIDDEN:
                problems.append(f"{name}: {key} is a plain environment value; use {key}_FILE and a secret")
            elif re.search(r"PASSWORD|PASSWD|SECRET|TOKEN", key) and not key.endswith("_FILE"):
                problems.append(f"{name}: {key} looks like a plain secret value")
            elif key.endswith("_FILE") and "PASSWORD" in key and not str(value).startswith("/run/secrets/"):
                problems.append(f"{name}: {key} must point into /run/secrets/, is {value!r}")
            if re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)):
                problems.append(f"{name}: {key} has a password in its URL")
    for name, secret in (compose.get("secrets") or {}).items():
        if "environment" in secret:
            problems.append(f"secret {name} is read from an environment variable; use a file")
    return problems


def replica_problems(compose):
    problems = []
    consumer = services(compose).get("consumer", {})
    replicas = (consumer.get("deploy") or {}).get("replicas")
    if replicas != 2:
        problems.append(f"consumer must default to 2 replicas (deploy.replicas), has {replicas!r}")
    if "container_name" in consumer:
        problems.append("consumer must not set container_name: it could not be scaled")
    for port in consumer.get("ports") or []:
        if ":" in str(port) or (isinstance(port, dict) and port.get("published")):
            problems.append(f"consumer must not publish a fixed host port ({port!r}): it could not be scaled")
    return problems


def build_problems(compose):
    problems = []
    for name in APP_SERVICES:
        build = services(compose).get(name, {}).get("build") or {}
        if build.get("context") != "." or build.get("dockerfile") != f"Dockerfile.{name}":
            problems.append(f"{name} must be built from Dockerfile.{name} in context '.', build is {build!r}")
    ports = [str(p) for p in services(compose).get("producer", {}).get("ports") or []]
    if "8080:8080" not in ports:
        problems.append(f"producer must be published on port 8080, ports are {ports}")
    return problems


def restart_problems(compose):
    return [
        f"service {name} needs a restart policy"
        for name, service in services(compose).items()
        if service.get("restart") not in ("always", "unless-stopped", "on-failure")
        and not ((service.get("deploy") or {}).get("restart_policy"))
    ]


def non_root_problems(compose):
    problems = []
    for name in (*APP_SERVICES, "nginx"):
        user = str(services(compose).get(name, {}).get("user", "")).split(":")[0]
        if user in ("0", "root"):
            problems.append(f"{name} must not run as root")
    if str(services(compose).get("nginx", {}).get("user", "")).split(":")[0] in ("", "0", "root"):
        problems.append("nginx must run as its unprivileged user (user: 101:101)")
    return problems


def proxy_problems(compose):
    problems = []
    nginx = services(compose).get("nginx")
    if not nginx:
        return ["an nginx service (profile proxy) is missing"]
    if not nginx.get("profiles"):
        problems.append("nginx must be optional: give it a profile")
    if not re.fullmatch(r"(docker\.io/library/)?nginx:[\w.-]+", nginx.get("image", "")) or nginx["image"].endswith(":latest"):
        problems.append(f"nginx must use a versioned official image, uses {nginx.get('image')!r}")
    if not any("deploy/nginx/nginx.conf:/etc/nginx/nginx.conf" in str(v) for v in nginx.get("volumes") or []):
        problems.append("nginx must mount deploy/nginx/nginx.conf as /etc/nginx/nginx.conf")
    if nginx.get("depends_on", {}).get("producer", {}).get("condition") != "service_healthy":
        problems.append("nginx must wait for a healthy producer")
    return problems


def trusted_proxy_problems(compose):
    """The producer believes X-Forwarded-For from the nginx container alone."""
    problems = []
    nginx = services(compose).get("nginx", {})
    nets = nginx.get("networks") or {}
    addresses = [n.get("ipv4_address") for n in nets.values() if isinstance(n, dict) and n.get("ipv4_address")]
    trusted = environment(services(compose).get("producer", {})).get("TRUSTED_PROXIES", "")
    if len(addresses) != 1:
        return [f"nginx needs exactly one fixed ipv4_address, has {addresses}"]
    if [t.strip() for t in str(trusted).split(",") if t.strip()] != addresses:
        problems.append(f"producer TRUSTED_PROXIES must be nginx's address {addresses[0]} alone, is {trusted!r}")
    network_name = next(n for n, c in nets.items() if isinstance(c, dict) and c.get("ipv4_address"))
    if network_name not in (services(compose).get("producer", {}).get("networks") or []):
        problems.append(f"producer must join nginx's network {network_name}")
    for config in ((compose.get("networks") or {}).get(network_name) or {}).get("ipam", {}).get("config", []):
        address = ipaddress.ip_address(addresses[0])
        subnet = ipaddress.ip_network(config["subnet"])
        if address not in subnet:
            problems.append(f"nginx's address {address} is outside its network {subnet}")
        if "ip_range" not in config or address in ipaddress.ip_network(config["ip_range"]):
            problems.append("nginx's fixed address must lie outside the ip_range Docker hands out")
    return problems


RULES = [
    image_problems,
    persistence_problems,
    eviction_problems,
    redis_password_problems,
    healthcheck_problems,
    dependency_problems,
    secret_problems,
    plain_password_problems,
    replica_problems,
    build_problems,
    restart_problems,
    non_root_problems,
    proxy_problems,
    trusted_proxy_problems,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_compose_file_follows_the_rule(compose, rule):
    problems = rule(compose)
    assert not problems, "compose.yml: " + "; ".join(problems)


def test_compose_file_has_no_version_key_and_names_the_project(compose_raw):
    assert "version" not in compose_raw, "compose.yml must use the modern syntax: drop `version:`"
    assert compose_raw.get("name"), "compose.yml should name the project (stable volume names)"


def test_no_password_value_is_written_in_compose_file():
    text = read_text("compose.yml")
    for match in re.finditer(r"^\s*(-\s*)?(\w*PASSWORD\w*)\s*[:=]\s*(\S.*)$", text, re.M):
        key, value = match.group(2), match.group(3)
        assert key.endswith("_FILE") and value.strip("'\"").startswith("/run/secrets/"), (
            f"compose.yml line {match.group(0).strip()!r} sets a password-like value outside /run/secrets/"
        )


def test_nginx_limits_each_client_ip_to_20_requests_per_second():
    conf = read_text("deploy/nginx/nginx.conf")
    zone = re.search(r"limit_req_zone\s+\$binary_remote_addr\s+zone=(\w+):\w+\s+rate=(\d+)r/s;", conf)
    assert zone, "nginx.conf must define a limit_req_zone keyed on $binary_remote_addr"
    assert zone.group(2) == "20", f"the per-IP rate must be 20r/s, is {zone.group(2)}r/s"
    assert re.search(rf"limit_req\s+zone={zone.group(1)}\b", conf), "the zone must be applied with limit_req"
    assert re.search(r"limit_req_status\s+429;", conf), "rate-limited requests must get 429"
    assert re.search(r"proxy_pass\s+(http://producer:8080|\$\w+)", conf), "nginx must proxy to the producer"
    assert re.search(r"set\s+\$\w+\s+http://producer:8080;", conf) or "proxy_pass http://producer:8080" in conf, (
        "the upstream must be the producer service on 8080"
    )
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", conf), (
        "nginx must set X-Forwarded-For to the client address (replacing any value the client sent)"
    )
    assert re.search(r"^\s*listen\s+8080;", conf, re.M), "nginx must listen on 8080 (unprivileged port)"


def test_secret_files_are_ignored_by_git_and_examples_exist():
    for name in ("mysql_password", "mysql_root_password"):
        assert (ROOT / f"deploy/secrets/{name}.example").is_file(), f"deploy/secrets/{name}.example is missing"
    if not (ROOT / ".git").exists():
        pytest.skip("not a git work tree")
    for name in ("mysql_password", "mysql_root_password"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", f"deploy/secrets/{name}"], cwd=ROOT, check=False
        )
        assert result.returncode == 0, f"deploy/secrets/{name} must be ignored by git"
    result = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/secrets/mysql_password.example"], cwd=ROOT, check=False
    )
    assert result.returncode == 1, "deploy/secrets/mysql_password.example must stay tracked"


# Each mutation breaks one thing; the matching rule must notice.
def _set(path, value):
    def mutate(compose):
        node = compose
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(compose):
        node = compose
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


BROKEN = [
    ("redis image from elsewhere", _set(["services", "redis", "image"], "bitnami/redis:7"), image_problems),
    ("mysql 8.0", _set(["services", "mysql", "image"], "mysql:8.0"), image_problems),
    ("no AOF", _set(["services", "redis", "command"], ["redis-server"]), persistence_problems),
    ("fsync unsaid", _set(["services", "redis", "command"], ["redis-server --appendonly yes --maxmemory 1gb"]), persistence_problems),
    ("cache and queue evicted alike", _set(["services", "redis", "command"], ["redis-server --maxmemory 1gb --maxmemory-policy allkeys-lru"]), eviction_problems),
    ("no maxmemory", _set(["services", "redis", "command"], ["redis-server --maxmemory-policy volatile-lru"]), eviction_problems),
    ("password on redis-server's command line", _set(["services", "redis", "command"], ["redis-server --requirepass \"$(cat /run/secrets/redis_password)\""]), redis_password_problems),
    ("redis without a password", _delete(["services", "redis", "secrets"]), redis_password_problems),
    ("health check with -a", _set(["services", "redis", "healthcheck", "test"], ["CMD-SHELL", "redis-cli -a \"$(cat /run/secrets/redis_password)\" ping"]), redis_password_problems),
    ("producer without the redis secret", _delete(["services", "producer", "environment", "REDIS_PASSWORD_FILE"]), secret_problems),
    ("redis password in the URL", _set(["services", "consumer", "environment", "REDIS_URL"], "redis://:hunter2@redis:6379"), plain_password_problems),
    ("mysql without volume", _delete(["services", "mysql", "volumes"]), persistence_problems),
    ("consumer without health check", _delete(["services", "consumer", "healthcheck"]), healthcheck_problems),
    ("producer started too early", _set(["services", "producer", "depends_on", "mysql", "condition"], "service_started"), dependency_problems),
    ("plain MYSQL_PASSWORD", _set(["services", "mysql", "environment", "MYSQL_PASSWORD"], "hunter2"), plain_password_problems),
    ("plain MYSQL_ROOT_PASSWORD", _set(["services", "mysql", "environment", "MYSQL_ROOT_PASSWORD"], "hunter2"), plain_password_problems),
    ("password in the URL", _set(["services", "consumer", "environment", "MYSQL_URL"], "mysql://registry:hunter2@mysql/users"), plain_password_problems),
    ("secret from the environment", _set(["secrets", "mysql_password"], {"environment": "PW"}), plain_password_problems),
    ("password file outside secrets", _set(["services", "producer", "environment", "MYSQL_PASSWORD_FILE"], "/etc/pw"), secret_problems),
    ("consumer without the secret", _set(["services", "consumer", "secrets"], []), secret_problems),
    ("one consumer", _set(["services", "consumer", "deploy", "replicas"], 1), replica_problems),
    ("consumer with fixed port", _set(["services", "consumer", "ports"], ["9091:9091"]), replica_problems),
    ("producer from the wrong Dockerfile", _set(["services", "producer", "build", "dockerfile"], "Dockerfile"), build_problems),
    ("redis without restart", _delete(["services", "redis", "restart"]), restart_problems),
    ("consumer as root", _set(["services", "consumer", "user"], "0:0"), non_root_problems),
    ("nginx always on", _delete(["services", "nginx", "profiles"]), proxy_problems),
    ("trust a whole subnet", _set(["services", "producer", "environment", "TRUSTED_PROXIES"], "172.29.80.0/24"), trusted_proxy_problems),
]


@pytest.mark.parametrize("mutate, rule", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_rule_catches_a_broken_compose_file(compose, mutate, rule):
    mutate(compose)
    assert rule(compose), f"{rule.__name__} found nothing wrong in a compose file broken on purpose"
