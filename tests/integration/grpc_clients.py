"""tritonclient's gRPC client, on its defaults, in a process of its own (run by the tests):

    python tests/integration/grpc_clients.py ADDRESS TOKEN < cases.json  ->  results as JSON on stdout

tritonclient.grpc and kserve both register the ``inference.*`` protobuf messages, so they cannot be imported
in one process, and the test process imports kserve. Each case is ``{"model", "inputs": [{"name",
"datatype", "shape", "data"} | {..., "bytes_b64": [...]}]}``; its result is ``{"answers": [...], "typed": {name:
rows}}`` or ``{"code", "message"}``. Before the cases: server and model readiness and the model metadata.

The input is a list of cases, or ``{"cases", "from_metadata": {model: {input name: value | {"b64": ...}}},
"refusals": [{"label", "call": "infer" | "config" | "metadata", "model", "version"?, "inputs"?, "token"?}]}``:
then also, per model, a request built from its gRPC metadata alone (``metadata_requests.py``) and what it got,
and each refusal's status and message as the client shows them.
"""

from __future__ import annotations

import base64
import json
import sys

import numpy as np
import tritonclient.grpc as triton
from metadata_requests import tensors
from tritonclient.utils import InferenceServerException


def tensor(spec: dict) -> triton.InferInput:
    value = triton.InferInput(spec["name"], spec["shape"], spec["datatype"])
    if "bytes_b64" in spec:
        value.set_data_from_numpy(np.array([base64.b64decode(item) for item in spec["bytes_b64"]], dtype=np.object_))
    else:
        value.set_data_from_numpy(np.array(spec["data"], dtype=triton.triton_to_np_dtype(spec["datatype"])).reshape(spec["shape"]))
    return value


def run(client: triton.InferenceServerClient, headers: dict[str, str], case: dict) -> dict:
    try:
        result = client.infer(case["model"], [tensor(spec) for spec in case["inputs"]], headers=headers)
    except InferenceServerException as err:
        return {"code": err.status(), "message": err.message()}
    typed = {output.name: plain(result.as_numpy(output.name).tolist()) for output in result.get_response().outputs
             if output.name != "answer"}
    return {"answers": [json.loads(item) for item in result.as_numpy("answer")], "typed": typed}


def refusal(call) -> dict:
    """What a call the server should refuse got: its status and message, or that it was not refused."""
    try:
        call()
    except InferenceServerException as err:
        return {"code": err.status(), "message": err.message()}
    return {"code": "OK"}


def plain(value):
    """A numpy tolist() with bytes elements decoded, as JSON holds it."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value.decode("utf-8") if isinstance(value, bytes) else value


def from_metadata(client: triton.InferenceServerClient, headers: dict[str, str], model: str, values: dict) -> dict:
    """What a request built from the model's gRPC metadata alone got: ``{"code": "OK", "answers"}`` or the refusal."""
    metadata = client.get_model_metadata(model, headers=headers, as_json=True)
    inputs = []
    for name, datatype, array in tensors(metadata, {key: decoded(value) for key, value in values.items()}):
        value = triton.InferInput(name, list(array.shape), datatype)
        value.set_data_from_numpy(array)
        inputs.append(value)
    try:
        result = client.infer(model, inputs, headers=headers)
    except InferenceServerException as err:
        return {"code": err.status(), "message": err.message(), "inputs": metadata["inputs"]}
    return {"code": "OK", "answers": [json.loads(item) for item in result.as_numpy("answer")], "inputs": metadata["inputs"]}


def decoded(value):
    return base64.b64decode(value["b64"]) if isinstance(value, dict) and "b64" in value else value


def refused(client: triton.InferenceServerClient, headers: dict[str, str], case: dict) -> dict:
    """A call the server should refuse, as the client shows it."""
    given = headers if case.get("token", True) else {}
    calls = {"infer": lambda: client.infer(case["model"], [tensor(spec) for spec in case["inputs"]], case.get("version", ""),
                                           headers=given),
             "config": lambda: client.get_model_config(case["model"], case.get("version", ""), headers=given),
             "metadata": lambda: client.get_model_metadata(case["model"], case.get("version", ""), headers=given)}
    return {"label": case["label"], **refusal(calls[case["call"]])}


def main(address: str, token: str) -> None:
    given = json.load(sys.stdin)
    plan = given if isinstance(given, dict) else {"cases": given}
    cases = plan["cases"]
    client = triton.InferenceServerClient(address)
    headers = {"authorization": f"Bearer {token}"}
    models = sorted({case["model"] for case in cases})
    report = {
        "server_ready": client.is_server_ready(),
        "models_ready": {model: client.is_model_ready(model, headers=headers) for model in models},
        "metadata": {model: client.get_model_metadata(model, headers=headers, as_json=True) for model in models},
        "without_token": run(client, {}, cases[0]),
        "unload": refusal(lambda: client.unload_model(models[0], headers=headers)),
        "results": [run(client, headers, case) for case in cases],
        "from_metadata": {model: from_metadata(client, headers, model, values) for model, values in plan.get("from_metadata", {}).items()},
        "refusals": [refused(client, headers, case) for case in plan.get("refusals", [])],
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:3])
