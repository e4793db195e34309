"""Results files: a benchmark's report kept in docs/results/ with the command, the date, the commit and the machine."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

import pytest

from benchmarks import cli, results

WHEN = datetime(2026, 12, 7, 14, 3, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _this_machine(monkeypatch):
    monkeypatch.setattr("benchmarks.report.machine", lambda: "2 cores (test CPU), torch x, Python y")
    monkeypatch.setattr(results, "commit", lambda: "abc1234")


def test_the_file_names_the_command_date_commit_machine_and_status_and_holds_the_report_verbatim():
    text = results.render("engines", "python -m benchmarks engines --rounds 3", "  engine  throughput\n  a | b   1.0 /s\n",
                          status=0, machine="2 cores (AMD EPYC)", when=WHEN, revision="abc1234")
    lines = text.splitlines()
    assert lines[0] == "# Results: engines"
    header = lines.index("| command | date | commit | machine | exit status |")
    assert lines[header + 2] == "| `python -m benchmarks engines --rounds 3` | 2026-12-07 14:03 UTC | abc1234 | 2 cores (AMD EPYC) | 0 |"
    assert "```text\n  engine  throughput\n  a | b   1.0 /s\n```\n" in text  # verbatim: no cell escaping inside the report


def test_a_pipe_in_the_command_cannot_break_the_table_nor_a_fence_in_the_report_the_block():
    text = results.render("x", "python -m benchmarks load --config 'a=|'", "```\nfenced\n```", status=1, machine="m",
                          when=WHEN, revision="r")
    assert "`python -m benchmarks load --config 'a=\\|'`" in text
    assert "````text\n```\nfenced\n```\n````" in text


def test_recorded_prints_the_report_and_writes_it_with_the_exit_status(tmp_path, capsys):
    def report() -> int:
        print("misses: 1")
        return 1

    target = tmp_path / "sub" / "reliability.md"
    assert results.recorded(target, "reliability", "python -m benchmarks reliability", report) == 1
    assert capsys.readouterr().out == "misses: 1\n"
    text = target.read_text(encoding="utf-8")
    assert "| `python -m benchmarks reliability` |" in text and text.count("| 1 |") == 1
    assert "abc1234" in text and "2 cores (test CPU)" in text
    assert "```text\nmisses: 1\n```" in text


def test_nothing_is_written_for_no_report_a_failed_run_or_no_file(tmp_path):
    assert results.recorded(tmp_path / "quiet.md", "q", "c", lambda: 0) == 0

    def broken() -> int:
        print("half a report")
        raise RuntimeError("wrk died")

    with pytest.raises(RuntimeError):
        results.recorded(tmp_path / "broken.md", "b", "c", broken)
    assert results.recorded(None, "n", "c", lambda: 3) == 3
    assert list(tmp_path.iterdir()) == []


def test_the_benchmark_cli_writes_docs_results_command_md_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    monkeypatch.setattr(cli, "_engines", lambda args, built: print(f"engines report, {args.rounds} round(s)") or 0)
    assert cli.main(["engines", "--rounds", "1"]) == 0
    text = (tmp_path / "engines.md").read_text(encoding="utf-8")
    assert "| `python -m benchmarks engines --rounds 1` |" in text and "engines report, 1 round(s)" in text


def test_the_cli_honours_results_and_no_results_and_names_the_kserve_fault_run_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path / "default")
    monkeypatch.setattr(cli, "_fault", lambda args, built: print(f"fault on {args.engine}") or 0)
    assert cli.main(["fault", "--engine", "kserve"]) == 0
    assert "fault on kserve" in (tmp_path / "default" / "fault-kserve.md").read_text(encoding="utf-8")
    assert cli.main(["fault", "--results", str(tmp_path / "mine.md")]) == 0
    assert "fault on torchserve" in (tmp_path / "mine.md").read_text(encoding="utf-8")
    assert cli.main(["fault", "--no-results"]) == 0
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == ["fault-kserve.md"]


def test_a_module_benchmark_keeps_its_report_unless_told_not_to(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)

    def parser() -> argparse.ArgumentParser:
        made = argparse.ArgumentParser()
        made.add_argument("--child", action="store_true")
        return made

    def run(args: argparse.Namespace) -> int:
        print("42.0")
        return 0

    assert results.run_module("hugepages", parser(), run, ["--child"], keep=lambda args: not args.child) == 0
    assert list(tmp_path.iterdir()) == []
    assert results.run_module("hugepages", parser(), run, []) == 0
    assert "| `python -m benchmarks.hugepages` |" in (tmp_path / "hugepages.md").read_text(encoding="utf-8")


def test_the_commit_is_the_one_before_the_run_not_after_the_files_it_wrote(tmp_path, monkeypatch):
    wrote = []  # the run writes a tracked file (compare's chart), so the tree differs from HEAD after it

    def run() -> int:
        wrote.append("chart.png")
        print("report")
        return 0

    monkeypatch.setattr(results, "commit", lambda: "abc1234 with uncommitted changes" if wrote else "abc1234")
    results.recorded(tmp_path / "compare.md", "compare", "c", run)
    assert "| abc1234 |" in (tmp_path / "compare.md").read_text(encoding="utf-8")
