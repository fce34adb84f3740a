"""`cmm serve` refuses bad settings and bundles with a clean message and exit status 2."""

from __future__ import annotations

from cmm.cli import build_parser, main
from tests.tiny_bundle import write_tiny_bundle


def test_serve_is_registered_with_its_flags():
    args = build_parser().parse_args(
        ["serve", "--bundle", "b", "--host", "127.0.0.1", "--port", "9000", "--workers", "2"]
    )
    assert (str(args.bundle), args.host, args.port, args.workers) == ("b", "127.0.0.1", 9000, 2)


def test_missing_bundle_exits_2_naming_it(tmp_path, capsys):
    assert main(["serve", "--bundle", str(tmp_path / "none")]) == 2
    assert f"{tmp_path / 'none'}: no such bundle directory" in capsys.readouterr().err


def test_bad_settings_exit_2_naming_the_setting(tmp_path, capsys, monkeypatch):
    bundle = write_tiny_bundle(tmp_path)
    assert main(["serve", "--bundle", str(bundle), "--port", "70000"]) == 2
    assert "setting port" in capsys.readouterr().err
    monkeypatch.setenv("CMM_QUOTE_MAX_SIZE", "0")
    assert main(["serve", "--bundle", str(bundle)]) == 2
    assert "max_size" in capsys.readouterr().err
