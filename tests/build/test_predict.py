"""Offline prediction: inputs in order, files, directories and JSONL, same bodies as the handler gives."""

from __future__ import annotations

import json
from pathlib import Path

from markit.offline.predict import expand_inputs, main

from helpers import png_bytes


def test_inputs_expand_in_order(tmp_path):
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    for name in ("b.png", "a.png", "sub/c.png", ".hidden"):
        (tmp_path / "dir" / name).write_bytes(b"x")
    (tmp_path / "list.jsonl").write_text('{"image": "x"}\n\n{"image": "y"}\n')
    (tmp_path / "one.png").write_bytes(b"x")
    names = [ref.name for ref in expand_inputs([tmp_path / "one.png", tmp_path / "dir", tmp_path / "list.jsonl"])]
    assert names == [str(tmp_path / "one.png"), str(tmp_path / "dir" / "a.png"), str(tmp_path / "dir" / "b.png"),
                     str(tmp_path / "dir" / "sub" / "c.png"), f"{tmp_path / 'list.jsonl'}:1", f"{tmp_path / 'list.jsonl'}:3"]


def test_predict_writes_one_line_per_input_in_order(tmp_path, tiny_mar, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for index in range(5):
        (inputs / f"{index}.png").write_bytes(png_bytes((index * 50, 10, 200)))
    (inputs / "5_bad.png").write_bytes(b"not an image")
    out = tmp_path / "out.jsonl"
    code = main([str(tiny_mar), str(inputs), "--batch-size", "2", "--workers", "2", "--output", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 1  # one input was refused
    assert [Path(line["input"]).name for line in lines] == ["0.png", "1.png", "2.png", "3.png", "4.png", "5_bad.png"]
    assert [line["status"] for line in lines] == [200] * 5 + [415]
    assert lines[0]["response"]["model"]["name"] == "tiny"
    assert "6/6 inputs · 1 refused" in capsys.readouterr().err


def test_missing_input_is_reported(tmp_path, tiny_mar, capsys):
    assert main([str(tiny_mar), str(tmp_path / "nope.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
