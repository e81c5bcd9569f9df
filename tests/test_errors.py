from edge_moe.errors import UserError, first_line, run_main


def test_first_line_of_multiline_and_empty_messages():
    assert first_line(ValueError("bad value\n  at line 3")) == "bad value"
    assert first_line(RuntimeError("")) == "RuntimeError"
    assert first_line(ValueError("x" * 500), limit=10) == "x" * 10


def test_run_main_turns_user_errors_into_one_line_and_exit_2(capsys):
    def fails():
        raise UserError("data.yaml: missing key 'val'")

    assert run_main(fails, "prog") == 2
    assert capsys.readouterr().err == "prog: error: data.yaml: missing key 'val'\n"
    assert run_main(lambda: 3, "prog") == 3 and run_main(lambda: None, "prog") == 0


def test_model_source_kind_is_one_rule(tmp_path):
    import pytest

    from edge_moe.errors import UserError
    from edge_moe.model_source import source_kind

    (tmp_path / "bundle").mkdir()
    (tmp_path / "w.pt").write_bytes(b"")
    assert source_kind(str(tmp_path / "bundle")) == "bundle"
    assert source_kind(str(tmp_path / "w.pt")) == "checkpoint"
    assert source_kind("esmoe-pico") == "zoo"
    for missing in (str(tmp_path / "nope.pt"), "/nonexistent", "runs/x/best.pt"):
        with pytest.raises(UserError, match="no such file or directory"):
            source_kind(missing)
