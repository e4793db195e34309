"""The private server's config: the base config's JVM options are kept, with the server's own temp dir."""

from __future__ import annotations

from harness.torchserve import TorchServeProcess
from markit.client.properties import read_properties

from helpers import REPO


def written(tmp_path, overrides=None) -> dict[str, str]:
    server = TorchServeProcess(REPO / "config" / "config.properties", tmp_path / "store", tmp_path / "ts", overrides=overrides)
    return read_properties(server.write_config())


def test_the_base_configs_jvm_options_are_kept_beside_the_temp_dir(tmp_path):
    vmargs = written(tmp_path)["vmargs"].split()
    assert "-XX:TieredStopAtLevel=1" in vmargs
    assert f"-Djava.io.tmpdir={tmp_path / 'ts' / 'java-tmp'}" in vmargs


def test_an_empty_override_means_the_jvms_defaults(tmp_path):
    assert written(tmp_path, {"vmargs": ""})["vmargs"] == f"-Djava.io.tmpdir={tmp_path / 'ts' / 'java-tmp'}"
