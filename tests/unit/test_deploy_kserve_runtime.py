"""The KServe runtime's deployment files, checked offline: Dockerfile.kserve (hadolint, what it installs),
its entrypoint (shellcheck), the plain Kubernetes variant rendered and validated against Kubernetes' schemas,
and the InferenceService with the runtime as a custom predictor against KServe's v1beta1 fields."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from markit.engines.kserve.auth import OPEN_PATHS

from helpers import REPO, dev_tool, docker_instructions

DOCKERFILE = REPO / "Dockerfile.kserve"
ENTRYPOINT = REPO / "deploy" / "container" / "kserve-entrypoint.sh"
KUBERNETES = REPO / "deploy" / "kubernetes-kserve-runtime"
TORCHSERVE_KUBERNETES = REPO / "deploy" / "kubernetes"
INFERENCE_SERVICE = REPO / "deploy" / "kserve" / "inferenceservice-kserve-runtime.yaml"
ISVC_SCHEMA = REPO / "tests" / "data" / "kserve_inferenceservice_v1beta1.schema.json"
K8S_VERSION = kubernetes_validate.latest_version()


def instruction(name: str) -> list[str]:
    return [args for op, args in docker_instructions(DOCKERFILE) if op == name]


def test_the_dockerfile_passes_hadolint_and_the_entrypoint_shellcheck():
    linted = subprocess.run([dev_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    checked = subprocess.run([dev_tool("shellcheck"), str(ENTRYPOINT)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_image_installs_cpu_torch_first_then_the_project_with_its_kserve_extra_pinned_and_no_java():
    installs = [args for args in instruction("RUN") if "pip install" in args]
    assert len(installs) == 2
    assert "--index-url https://download.pytorch.org/whl/cpu" in installs[0] and "--no-deps" in installs[0]
    assert re.search(r'--constraint constraints\.txt "\.\[kserve\]"', installs[1])
    assert not any("openjdk" in args or "java" in args for args in instruction("RUN"))


def test_the_image_runs_the_entrypoint_as_uid_1000_under_tini_and_exposes_kserves_ports():
    assert instruction("USER") == ["1000:1000"]
    assert json.loads(instruction("ENTRYPOINT")[0]) == ["/usr/bin/tini", "--", "/usr/local/bin/kserve-runtime-entrypoint"]
    assert "deploy/container/kserve-entrypoint.sh /usr/local/bin/kserve-runtime-entrypoint" in instruction("COPY")
    assert instruction("EXPOSE") == ["8080 8081"]
    assert "/v2/health/ready" in instruction("HEALTHCHECK")[0]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    result = subprocess.run([dev_tool("kubectl"), "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return list(yaml.safe_load_all(result.stdout))


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents if doc["kind"] == kind]
    return found


def test_the_plain_kubernetes_variant_renders_and_passes_strict_schema_validation(rendered):
    assert sorted(doc["kind"] for doc in rendered) == ["Deployment", "Service"]
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_its_probes_ask_the_open_health_routes_and_its_token_comes_from_a_secret(rendered):
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in OPEN_PATHS
    key_file = {env["name"]: env["value"] for env in container["env"]}["KEY_FILE"]
    (mount,) = [m for m in container["volumeMounts"] if key_file.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "markit-inference-token"


def test_it_serves_the_store_deploy_kubernetes_creates_in_the_same_pod_size():
    torchserve = {doc["kind"]: doc for path in TORCHSERVE_KUBERNETES.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text())
                  if isinstance(doc, dict) and "kind" in doc}
    ours = yaml.safe_load((KUBERNETES / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    (claim,) = [v["persistentVolumeClaim"]["claimName"] for v in ours["volumes"] if "persistentVolumeClaim" in v]
    assert claim == torchserve["PersistentVolumeClaim"]["metadata"]["name"]
    (theirs,) = torchserve["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert ours["containers"][0]["resources"] == theirs["resources"]


def test_the_inference_service_runs_the_runtime_as_kserves_custom_predictor():
    schema = json.loads(ISVC_SCHEMA.read_text())
    service = yaml.safe_load(INFERENCE_SERVICE.read_text())
    jsonschema.validate(service, schema, cls=jsonschema.Draft202012Validator)
    predictor = service["spec"]["predictor"]
    (container,) = predictor["containers"]
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"},
                                  "spec": {"containers": [container], "volumes": predictor["volumes"]}}, K8S_VERSION, strict=True)
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MODEL_STORE"].startswith("/mnt/models/") and env["STORAGE_URI"].startswith("s3://")
    assert container["readinessProbe"]["httpGet"]["path"] in OPEN_PATHS
    assert [port["containerPort"] for port in container["ports"]] == [8080]


def test_the_schema_refuses_a_predictor_with_both_a_model_and_containers():
    schema = json.loads(ISVC_SCHEMA.read_text())
    service = yaml.safe_load(INFERENCE_SERVICE.read_text())
    service["spec"]["predictor"]["model"] = {"modelFormat": {"name": "pytorch"}, "storageUri": "s3://x/y"}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(service))
