"""The example sweeps that ship inside the package: listed, printed, and run by name from anywhere."""

from pathlib import Path

import pytest

import fastrep
from fastrep.cli import main
from fastrep.experiments import examples, load_spec

PACKAGE = Path(fastrep.__file__).resolve().parent / "experiments" / "examples"


def test_names_are_the_packaged_toml_files():
    on_disk = sorted(p.stem for p in PACKAGE.glob("*.toml"))
    assert on_disk, "no example spec ships with the package"
    assert examples.names() == on_disk
    assert "separation" in on_disk
    for name in on_disk:
        assert examples.path(name) == PACKAGE / f"{name}.toml"
        assert examples.path(f"{name}.toml") == PACKAGE / f"{name}.toml"
        line = examples.describe(name)
        assert line and "\n" not in line and not line.startswith("#")
        assert load_spec(examples.path(name)).cells()


def test_the_cpp_example_ships_beside_the_specs():
    assert examples.embed_source() == PACKAGE / "embed" / "embed.cpp"
    assert "#include <fastrep/philox.hpp>" in examples.embed_source().read_text()


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="no packaged example 'nope'; known: .*separation"):
        examples.path("nope")
    with pytest.raises(TypeError, match="name must be a str"):
        examples.path(3)


def test_a_packaged_name_loads_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec("separation")
    assert spec.name == load_spec(PACKAGE / "separation.toml").name
    assert load_spec("separation.toml").name == spec.name


def test_a_local_file_or_folder_wins_over_the_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "separation.toml").write_text(examples.text("separation").replace(
        'name = "separation-example"', 'name = "mine"'))
    assert load_spec("separation.toml").name == "mine"
    (tmp_path / "separation").mkdir()
    with pytest.raises(IsADirectoryError, match="spec must be a TOML file; separation is a folder"):
        load_spec("separation")
    # a path with a folder part is a path, never an example name
    with pytest.raises(FileNotFoundError, match="not found: sub/separation.toml .*packaged examples"):
        load_spec("sub/separation.toml")


def test_cli_lists_one_line_per_example(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(examples.names())
    for line, name in zip(out, examples.names(), strict=True):
        assert line.split()[0] == name
        assert examples.describe(name) in line


def test_cli_prints_an_example_verbatim(capsys, tmp_path):
    assert main(["examples", "separation"]) == 0
    out = capsys.readouterr().out
    assert out == (PACKAGE / "separation.toml").read_text()
    copy = tmp_path / "my.toml"
    copy.write_text(out)
    assert load_spec(copy).cells()
    assert main(["examples", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fastrep: error: no packaged example 'nope'; known: " + ", ".join(examples.names())]


def test_cli_sweep_takes_a_packaged_name(tmp_path, monkeypatch, capsys):
    import fastrep.experiments as ex

    seen = {}

    def fake_run(spec, **kwargs):  # the sweep itself is tested elsewhere; here only what it is given
        seen["spec"] = spec
        raise ex.SpecError("", "stop here")

    monkeypatch.setattr(ex, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "separation", "--store", str(tmp_path / "s.sqlite")]) == 2
    assert seen["spec"].name == load_spec(PACKAGE / "separation.toml").name


def test_demo_report_stays_in_the_source_tree():
    """The README's demo report and figures live beside the example specs (not in the wheel:
    tests/test_embed_installed.py checks the wheel's contents)."""
    demo = PACKAGE / "demo"
    if not demo.is_dir():
        pytest.skip("installed package: the demo report is not shipped")
    assert (demo / "report.md").is_file()
    assert sorted(p.name for p in demo.glob("*.png"))
