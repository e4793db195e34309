"""The deployment files, checked offline: the Dockerfile (hadolint, what it installs and copies), the
container, Kubernetes and KServe configs, the kustomize base rendered and validated against
Kubernetes' schemas, the InferenceService against KServe's v1beta1 fields, and the KServe layout."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from markit.archive.mar_file import read_mar
from markit.client.properties import read_properties
from markit.ops.torchserve_on_kserve import config_text
from markit.ops.torchserve_on_kserve import main as kserve_layout_main

from helpers import REPO, dev_tool, docker_instructions, read_properties_text, stand_in_mar

DOCKERFILE = REPO / "Dockerfile"
CONTAINER = REPO / "deploy" / "container"
KUBERNETES = REPO / "deploy" / "kubernetes"
INFERENCE_SERVICE = REPO / "deploy" / "kserve" / "inferenceservice.yaml"
ISVC_SCHEMA = REPO / "tests" / "data" / "kserve_inferenceservice_v1beta1.schema.json"
BIN = Path(sys.executable).parent
K8S_VERSION = kubernetes_validate.latest_version()

# What every config keeps from config/config.properties, the hardened local one.
HARDENING = ("enable_model_api", "max_request_size", "max_response_size", "job_queue_size", "default_response_timeout",
             "metrics_mode", "enable_metrics_api", "model_metrics_auto_detect", "install_py_dep_per_model")


def tool(name: str) -> str:
    return dev_tool(name)


def instruction(name: str) -> list[str]:
    return [args for op, args in docker_instructions(DOCKERFILE) if op == name]


def host_port(address: str) -> tuple[str, int]:
    url = urlparse(address)
    return url.hostname, url.port


# -- Dockerfile ------------------------------------------------------------------------------
def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ignored_hadolint_rule_has_a_written_reason():
    lines = DOCKERFILE.read_text().splitlines()
    pragmas = [(i, rule) for i, line in enumerate(lines) for rule in re.findall(r"# hadolint ignore=([\w,]+)", line)]
    for index, rules in pragmas:
        comment = []
        for line in reversed(lines[:index]):
            if not line.startswith("#"):
                break
            comment.append(line)
        for rule in rules.split(","):
            assert any(rule in line and len(line) > 40 for line in comment), f"no reason written above ignoring {rule}"


def test_shell_scripts_pass_shellcheck():
    scripts = [CONTAINER / "entrypoint.sh", REPO / "scripts" / "kserve_layout.sh"]
    result = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def constraints() -> dict[str, str]:
    pins = {}
    for line in (CONTAINER / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_torch_is_installed_first_from_the_cpu_index_then_the_project_pinned_without_extras():
    installs = [args for args in instruction("RUN") if "pip install" in args]
    assert len(installs) == 2, installs
    torch_install, project_install = installs
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_install
    assert re.search(r'"?torch==([^\s"]+)"?', torch_install).group(1) == constraints()["torch"]
    assert "--no-deps" in torch_install  # its dependencies come pinned, from PyPI, with the project
    assert re.search(r"--constraint constraints\.txt \.(\s|$)", project_install), "the project must be installed with the pins"
    assert all("--no-cache-dir" in args for args in installs)
    assert "[" not in project_install.split("--constraint")[1].split("&&")[0]  # no extras


IMAGE_EXTRAS = ("", "kserve")  # the TorchServe image installs the project alone, the KServe runtime's with kserve


def runtime_closure() -> dict[str, str]:
    """Every distribution the project's run-time dependencies and its ``kserve`` extra (the KServe runtime's
    image) pull in, with its version in this .venv."""
    versions: dict[str, str] = {}
    requirements = [Requirement(text) for text in metadata.requires("markit")]  # this project, installed
    pending = [Requirement(str(requirement).split(";")[0]) for requirement in requirements
               if not requirement.marker or any(requirement.marker.evaluate({"extra": extra}) for extra in IMAGE_EXTRAS)]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in versions or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        distribution = metadata.distribution(requirement.name)
        versions[name] = distribution.version
        pending += [Requirement(text) for text in distribution.requires or []]
    return versions


def test_constraints_pin_exactly_what_the_tests_run_with():
    expected = runtime_closure()
    assert constraints() == expected, "deploy/container/constraints.txt should read:\n" + "".join(
        f"{name}=={version}\n" for name, version in sorted(expected.items()))


def test_the_image_gets_every_package_pip_installs():
    listed = re.search(r"^include = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    packages = [pattern.rstrip("*") for pattern in re.findall(r'"([\w*]+)"', listed)]
    assert packages == ["markit"]
    copies = instruction("COPY")
    admitted = (REPO / ".dockerignore").read_text().splitlines()
    for package in packages:
        assert f"{package}/ {package}/" in copies, f"the Dockerfile does not copy {package}/"
        assert f"!{package}/" in admitted, f".dockerignore keeps {package}/ out of the build context"
    for source in ("pyproject.toml", "README.md", "deploy/container/"):
        assert any(line.startswith(f"!{source}") for line in admitted), source


def test_image_runs_the_entrypoint_as_uid_1000_under_tini_with_its_defaults():
    (entrypoint,) = instruction("ENTRYPOINT")
    command = json.loads(entrypoint)
    assert command[0] == "/usr/bin/tini" and command[-1] == "/usr/local/bin/torchserve-entrypoint"
    assert instruction("USER") == ["1000:1000"]
    assert instruction("WORKDIR")[-1] == "/home/model-server"
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(instruction("ENV"))))
    script = (CONTAINER / "entrypoint.sh").read_text()
    for variable in ("TS_CONFIG_FILE", "MODEL_STORE"):
        assert f"${{{variable}:-{env[variable]}}}" in script, f"the entrypoint's default for {variable} is not the image's"
    config = read_properties(CONTAINER / "config.properties")
    assert config["model_store"] == env["MODEL_STORE"]
    assert "COPY deploy/container/config.properties " + env["TS_CONFIG_FILE"] in [f"COPY {args}" for args in instruction("COPY")]


def test_image_exposes_the_ports_the_container_config_opens():
    config = read_properties(CONTAINER / "config.properties")
    opened = sorted(host_port(config[f"{api}_address"])[1] for api in ("inference", "metrics"))
    assert sorted(int(port) for args in instruction("EXPOSE") for port in args.split()) == opened


def test_healthcheck_runs_the_health_probe():
    (healthcheck,) = instruction("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:3] == ["python", "-m", "markit.client.health"]


# -- configs ---------------------------------------------------------------------------------
CONFIGS = {"container": CONTAINER / "config.properties", "kubernetes": KUBERNETES / "config.properties"}


@pytest.mark.parametrize("name", CONFIGS)
def test_inference_and_metrics_listen_outside_management_and_grpc_inside(name):
    config = read_properties(CONFIGS[name])
    assert host_port(config["inference_address"]) == ("0.0.0.0", 8080)
    assert host_port(config["metrics_address"]) == ("0.0.0.0", 8082)
    assert host_port(config["management_address"])[0] == "127.0.0.1"
    assert config["grpc_inference_address"] == config["grpc_management_address"] == "127.0.0.1"
    assert config["enable_envvars_config"] == "false"


@pytest.mark.parametrize("name", CONFIGS)
def test_allowed_urls_admit_only_the_model_store(name):
    config = read_properties(CONFIGS[name])
    pattern = re.compile(config["allowed_urls"])
    store = config["model_store"]
    assert pattern.fullmatch(f"file://{store}/tiny.mar")
    for url in ("file:///etc/passwd.mar", f"file://{store}/../secrets/x.mar", "https://example.com/tiny.mar", f"file://{store}/tiny.zip"):
        assert not pattern.fullmatch(url), url


def test_container_keeps_token_auth_and_kubernetes_differs_only_in_token_settings():
    container, kubernetes = (read_properties(path) for path in CONFIGS.values())
    assert container["disable_token_authorization"] == "false"
    assert kubernetes["disable_token_authorization"] == "true"
    differences = {key for key in container.keys() | kubernetes.keys() if container.get(key) != kubernetes.get(key)}
    assert differences == {"disable_token_authorization", "token_expiration_min"}
    assert "token_expiration_min" not in kubernetes  # meaningless without tokens


@pytest.mark.parametrize("path", [*CONFIGS.values(), "kserve"], ids=[*CONFIGS, "kserve"])
def test_every_config_keeps_the_local_hardening(path, tiny_mar, tmp_path):
    if path == "kserve":  # what kserve_layout writes (tests/build/test_kserve_layout.py lays out real archives)
        path = tmp_path / "kserve.properties"
        path.write_text(config_text([read_mar(tiny_mar)]))
    local, config = read_properties(REPO / "config" / "config.properties"), read_properties(path)
    assert {key: config.get(key) for key in HARDENING} == {key: local[key] for key in HARDENING}


@pytest.fixture
def tiny_mar(tmp_path: Path) -> Path:
    """What the layout reads of an archive, without building one (tests/build checks the builder writes it)."""
    (tmp_path / "built").mkdir()
    return stand_in_mar(tmp_path / "built" / "tiny.mar")


# -- Kubernetes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    result = subprocess.run([tool("kubectl"), "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return list(yaml.safe_load_all(result.stdout))


def one(rendered: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in rendered if doc["kind"] == kind]
    return found


def test_kustomize_renders_the_whole_base(rendered):
    assert sorted(doc["kind"] for doc in rendered) == sorted(
        ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PersistentVolumeClaim", "Service"])


def test_every_rendered_object_passes_strict_schema_validation(rendered):
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("path", sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_every_manifest_file_passes_strict_schema_validation(path):
    for doc in yaml.safe_load_all((KUBERNETES / path).read_text()):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def pod_container(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def mounted_config(rendered: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """Where the Deployment mounts the generated ConfigMap's config.properties, and its settings."""
    configmap = one(rendered, "ConfigMap")
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v["name"] for v in pod["volumes"] if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]]
    (mount,) = [m for m in pod_container(rendered)["volumeMounts"] if m["name"] == volume]
    text = configmap["data"]["config.properties"]
    assert text == (KUBERNETES / "config.properties").read_text()
    settings = read_properties_text(text)
    return f"{mount['mountPath']}/config.properties", settings


def test_the_configmap_keeps_management_and_grpc_on_loopback(rendered):
    _, config = mounted_config(rendered)
    assert host_port(config["management_address"])[0] == "127.0.0.1"
    assert config["grpc_inference_address"] == config["grpc_management_address"] == "127.0.0.1"
    assert config["enable_model_api"] == "false"


def test_the_service_exposes_inference_and_metrics_but_not_management(rendered):
    _, config = mounted_config(rendered)
    named = {port["name"]: port["containerPort"] for port in pod_container(rendered)["ports"]}
    targets = {named[port["targetPort"]] if isinstance(port["targetPort"], str) else port["targetPort"]
               for port in one(rendered, "Service")["spec"]["ports"]}
    assert targets == {host_port(config["inference_address"])[1], host_port(config["metrics_address"])[1]}
    internal = {host_port(config["management_address"])[1], int(config["grpc_inference_port"]), int(config["grpc_management_port"])}
    assert not internal & (targets | set(named.values()))
    assert one(rendered, "Service")["spec"]["selector"] == one(rendered, "Deployment")["spec"]["selector"]["matchLabels"]


def test_probes_run_the_health_probe_on_the_mounted_config(rendered):
    config_path, _ = mounted_config(rendered)
    container = pod_container(rendered)
    probe = ["python", "-m", "markit.client.health", "--config", config_path]
    assert container["startupProbe"]["exec"]["command"] == [*probe, "--ready"]
    assert container["readinessProbe"]["exec"]["command"] == [*probe, "--ready"]
    assert container["livenessProbe"]["exec"]["command"] == probe


def test_pods_run_as_uid_1000_on_a_read_only_root_with_writable_scratch(rendered):
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    container = pod_container(rendered)
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for writable in ("/home/model-server", "/tmp"):  # working dir (key file, logs), TMPDIR and Java's temp dir
        assert "emptyDir" in volumes[mounts[writable]["name"]] and not mounts[writable].get("readOnly")
    store = mounts[read_properties(KUBERNETES / "config.properties")["model_store"]]
    assert store["readOnly"] is True
    claim = volumes[store["name"]]["persistentVolumeClaim"]
    assert claim["claimName"] == one(rendered, "PersistentVolumeClaim")["metadata"]["name"] and claim["readOnly"] is True


def test_resources_are_sized_for_two_cpus(rendered):
    resources = pod_container(rendered)["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "2"
    assert resources["requests"]["memory"] == resources["limits"]["memory"]


def test_the_autoscaler_scales_the_deployment_on_cpu(rendered):
    hpa = one(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": one(rendered, "Deployment")["metadata"]["name"]}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in one(rendered, "Deployment")["spec"]  # the autoscaler owns the count


def test_the_network_policy_admits_only_the_service_ports_and_no_egress(rendered):
    policy = one(rendered, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == one(rendered, "Deployment")["spec"]["selector"]["matchLabels"]
    admitted = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    assert admitted == {port["port"] for port in one(rendered, "Service")["spec"]["ports"]}
    assert all(rule.get("from") for rule in policy["ingress"])  # never from anywhere
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"} and policy["egress"] == []


# -- KServe ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def isvc_schema() -> dict[str, Any]:
    schema = json.loads(ISVC_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def isvc() -> dict[str, Any]:
    return yaml.safe_load(INFERENCE_SERVICE.read_text())


def test_the_inference_service_matches_kserve_v1beta1(isvc_schema):
    jsonschema.validate(isvc(), isvc_schema, cls=jsonschema.Draft202012Validator)
    model = isvc()["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "pytorch"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "predictor", "model", "protocolVersion"), "v3"),
        (("spec", "predictor", "model", "storageURI"), "s3://typo"),
        (("spec", "predictor", "model", "modelFormat"), {"version": "1"}),
        (("spec", "predictor", "scaleMetric"), "latency"),
        (("metadata", "name"), "Torch_Serve"),
        (("apiVersion",), "serving.kserve.io/v1alpha1"),
    ],
)
def test_the_schema_rejects_what_kserve_rejects(path, value, isvc_schema):
    broken = copy.deepcopy(isvc())
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert list(jsonschema.Draft202012Validator(isvc_schema).iter_errors(broken))


def test_the_predictor_container_parts_are_valid_kubernetes(rendered):
    model = isvc()["spec"]["predictor"]["model"]
    container = {"name": "kserve-container", "image": "kserve-torchserve",
                 **{key: model[key] for key in ("resources", "env") if key in model}}
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"},
                                  "spec": {"containers": [container]}}, K8S_VERSION, strict=True)
    assert model["resources"] == pod_container(rendered)["resources"]  # the same 2-CPU pod as the Deployment


def test_layout_cli_reports_a_problem_in_one_line(tmp_path, capsys):
    (tmp_path / "store").mkdir()
    assert kserve_layout_main([str(tmp_path / "store"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"kserve_layout: model store {tmp_path / 'store'} holds no .mar archive\n"
