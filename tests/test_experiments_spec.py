"""Sweep specs: parsing, grids, cell identity, and every error naming its key."""

import pytest

from fastrep.experiments import SpecError, load_spec
from fastrep.experiments.spec import geometric_grid, source_n

from .experiments_toy import register, toy_spec

register()


def test_toy_spec_expands_to_the_full_grid():
    spec = load_spec(toy_spec())
    cells = spec.cells()
    assert spec.n == (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    assert len(cells) == 2 * 3 * 10 * 3
    ids = [c.cell_id for c in cells]
    assert len(set(ids)) == len(ids)
    assert {c.params["label"] for c in cells} == {"toy", "toy3"}
    assert cells[0].d == cells[0].params["d"]


def test_per_method_seeds_override_the_sweep():
    raw = toy_spec()
    raw["methods"]["toy"] = dict(raw["methods"]["toy"] or {}, seeds=5)
    spec = load_spec(raw)
    cells = spec.cells()
    seeds_of = {lab: {c.seed for c in cells if c.params["label"] == lab} for lab in ("toy", "toy3")}
    assert seeds_of["toy"] == set(range(5))
    assert seeds_of["toy3"] == set(spec.seeds) and len(spec.seeds) == 3
    assert spec.to_dict()["methods"]["toy"]["seeds"] == [0, 1, 2, 3, 4]


def test_cell_id_is_stable_and_ignores_dict_order():
    a = load_spec(toy_spec()).cells()
    raw = toy_spec()
    raw["methods"] = dict(reversed(list(raw["methods"].items())))
    raw["target"] = dict(reversed(list(raw["target"].items())))
    raw["target"]["terms"] = list(reversed(raw["target"]["terms"]))
    b = load_spec(raw).cells()
    assert {c.cell_id for c in a} == {c.cell_id for c in b}
    # any change of what the cell means changes its id
    c = load_spec(toy_spec(methods={"toy": {"power": 2.5}})).cells()
    assert not {x.cell_id for x in c} & {x.cell_id for x in a}


def test_toml_text_and_file(tmp_path):
    text = """
name = "t"
epsilon = 0.3
seeds = [4, 7]
[target]
preset = "separation"
noise = 0.5
[grid]
d = [8, 16]
n = {start = 100, stop = 1000, num = 3}
[methods.toy]
power = 2
"""
    p = tmp_path / "s.toml"
    p.write_text(text)
    for spec in (load_spec(p), load_spec(str(p)), load_spec(text)):
        assert spec.seeds == (4, 7)
        assert spec.n == (100, 316, 1000)
        assert spec.target == {"preset": "separation", "noise": 0.5}
        assert spec.epsilon == 0.3


@pytest.mark.parametrize(
    "grid, expected",
    [
        ([300, 100, 100, 200], (100, 200, 300)),
        ({"start": 10, "stop": 80}, (10, 20, 40, 80)),
        ({"start": 10, "stop": 100, "factor": 10}, (10, 100)),
        ({"start": 1, "stop": 1000, "num": 4}, (1, 10, 100, 1000)),
    ],
)
def test_geometric_grid(grid, expected):
    assert geometric_grid(grid) == expected


def test_source_n():
    assert source_n({"n": 500}, 16) == 500
    assert source_n({"n": {"factor": 8.0, "power": 2.0}}, 16) == 8 * 256
    assert source_n({"n": {"factor": 1.5, "power": 1.0}}, 3) == 5  # ceil(4.5)


def _bad(path, value):
    raw = toy_spec()
    node = raw
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return raw


@pytest.mark.parametrize(
    "path, value, key, words",
    [
        ("methods.nope", {}, "methods.nope", "unknown method 'nope'"),
        ("methods.toy.method", "kernel_magic", "methods.toy.method", "unknown method"),
        ("grid.n", [100, -5], "grid.n[1]", "positive integer"),
        ("grid.n", {"start": -8, "stop": 100}, "grid.n.start", "positive integer"),
        ("grid.n", {"start": 100, "stop": 10}, "grid.n.stop", ">= start"),
        ("grid.d", KeyError, "grid.d", "missing"),
        ("target", KeyError, "target", "missing"),
        ("target", {"preset": "no_such_preset"}, "target.preset", "unknown preset"),
        (
            "target",
            {"terms": [{"alpha": [2, 0], "coef": 1.0}, {"alpha": [1], "coef": 1.0}]},
            "target.terms[1].alpha",
            "length",
        ),
        ("target", {"terms": [{"alpha": [2, -1], "coef": 1.0}]}, "target.terms[0].alpha", "integer"),
        ("target", {"terms": [{"alpha": [2, 0], "coef": 0.0}]}, "target.terms", "zero"),
        ("target", {"preset": "separation", "noise": -1}, "target.noise", "non-negative"),
        ("target", {"preset": "separation", "seed": 3}, "target.seed", "per cell"),
        ("epsilon", -0.1, "epsilon", "positive"),
        ("seeds", 0, "seeds", "positive integer"),
        ("seeds", [1, 1], "seeds", "duplicates"),
        ("methods", {}, "methods", "missing or empty"),
        ("methods.toy.seed", 3, "methods.toy.seed", "per cell"),
        ("methods.toy.seeds", [2, 2], "methods.toy.seeds", "duplicates"),
        ("methods.toy.seeds", 0, "methods.toy.seeds", "positive integer"),
        ("colour", "blue", "colour", "unknown key"),
    ],
)
def test_invalid_spec_names_the_key(path, value, key, words):
    with pytest.raises(SpecError) as exc:
        load_spec(_bad(path, value))
    assert exc.value.key == key
    assert str(exc.value).startswith(f"{key}: ")
    assert words in str(exc.value)


def test_unknown_option_of_a_real_method_is_refused():
    raw = toy_spec(methods={"onestep": {"width": 100, "widht": 3}})
    with pytest.raises(SpecError, match=r"^methods\.onestep\.widht: unknown option for onestep"):
        load_spec(raw)


def test_transfer_needs_a_source():
    raw = toy_spec(methods={"transfer": {"width": 100}})
    with pytest.raises(SpecError, match=r"^methods\.transfer\.source: missing"):
        load_spec(raw)
    raw = toy_spec(methods={"transfer": {"source": {"target": {"preset": "random", "r": 2, "p": 2}}}})
    with pytest.raises(SpecError, match=r"^methods\.transfer\.source\.n: missing"):
        load_spec(raw)
    raw = toy_spec(methods={"toy": {"source": {"target": {"preset": "random"}, "n": 10}}})
    with pytest.raises(SpecError, match=r"^methods\.toy\.source: only the transfer method"):
        load_spec(raw)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec("[target\npreset = 1")
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "nope.toml")


def test_shipped_specs_are_valid():
    from fastrep.experiments import demo_spec, examples

    for grid in ("full", "quick"):
        spec = demo_spec(grid)
        assert {m.method for m in spec.methods} >= {"onestep", "ntk", "oracle", "transfer"}
        assert spec.target["preset"] == "separation"
    assert examples.names()
    for name in examples.names():
        assert load_spec(examples.path(name)).cells()
    with pytest.raises(ValueError, match="grid must be one of"):
        demo_spec("huge")


def test_per_d_limits_on_the_n_grid():
    raw = toy_spec(seeds=1, grid={"d": [4, 8], "n": [8, 16, 32, 64, 128, 256, 512, 1024]})
    raw["methods"] = {"toy": {"n_max": {"factor": 1, "power": 3}, "n_min": {"factor": 2, "power": 1}}}
    spec = load_spec(raw)
    got = {(c.d, c.n) for c in spec.cells()}
    assert got == {(4, n) for n in (8, 16, 32, 64)} | {(8, n) for n in (16, 32, 64, 128, 256, 512)}
    assert spec.to_dict()["methods"]["toy"]["n_max"] == {"factor": 1.0, "power": 3.0}
    raw["methods"] = {"toy": {"n_max": 4}}
    with pytest.raises(SpecError, match=r"^methods\.toy\.n_max: leaves no n of the grid at d = 4"):
        load_spec(raw)
    raw["methods"] = {"toy": {"n_max": {"factor": -1}}}
    with pytest.raises(SpecError, match=r"^methods\.toy\.n_max\.factor"):
        load_spec(raw)


def test_presets_are_the_targets_preset_constructors():
    from fastrep import MultiIndexTarget
    from fastrep.experiments.presets import TARGET_PRESETS

    ctors = {k for k, v in vars(MultiIndexTarget).items() if isinstance(v, classmethod)}
    assert TARGET_PRESETS == ctors and "separation" in TARGET_PRESETS


def test_methods_and_presets_do_not_import_spec():
    import ast
    from pathlib import Path

    import fastrep.experiments as e

    for mod in ("methods", "presets"):
        tree = ast.parse(Path(e.__file__).with_name(f"{mod}.py").read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
        assert "spec" not in names, mod


def _net(**options):
    return {
        "name": "net",
        "seeds": 1,
        "target": {"preset": "separation"},
        "grid": {"d": [4], "n": [32]},
        "evaluation": {"n_val": 50, "n_test": 50},
        "methods": {"onestep": options},
    }


def test_learner_defaults_are_part_of_the_identity():
    from fastrep import OneStepNetwork

    implicit, explicit = load_spec(_net()), load_spec(_net(width=1000, ridge="validate"))
    assert [c.cell_id for c in implicit.cells()] == [c.cell_id for c in explicit.cells()]
    opts = implicit.cells()[0].params["options"]
    defaults = OneStepNetwork().get_params()
    assert set(opts) == set(defaults) - {"seed", "verbose"}  # verbose only reports: not the setting
    assert opts["width"] == 1000 and opts["dtype"] == "float32" and opts["eta1"] == "normalized"
    other = load_spec(_net(width=500)).cells()[0]
    assert other.cell_id != implicit.cells()[0].cell_id
    params = implicit.cells()[0].params
    assert params["results_version"] >= 2 and params["target_resolved"]["terms"]
    assert params["target_resolved"]["U_seed"] > 0


def test_transfer_keeps_its_own_rebias_default():
    raw = _net()
    raw["methods"] = {
        "transfer": {"width": 20, "source": {"target": {"preset": "random", "r": 2, "p": 2}, "n": 64}}
    }
    cell = load_spec(raw).cells()[0]
    assert cell.params["options"]["rebias"] is True and cell.params["n_source"] == 64


@pytest.mark.parametrize("name", ["../x", "/abs/x", "a/b", "", ".hidden", "x..y", "a b", "é", 3, "x" * 101])
def test_unsafe_names_are_refused(name):
    with pytest.raises(SpecError, match="^name: "):
        load_spec(toy_spec(name=name))
    with pytest.raises(SpecError, match="^--as: "):
        load_spec(toy_spec()).renamed(name)


def test_setting_differences_ignore_grid_growth():
    from fastrep.experiments.spec import setting_differences

    a = load_spec(toy_spec()).to_dict()
    assert setting_differences(a, load_spec(toy_spec(seeds=5, grid={"d": [4], "n": [8]})).to_dict()) == []
    changed = load_spec(
        toy_spec(methods={"toy": {"power": 2.5}, "toy3": {"method": "toy_kernel", "power": 3.0}})
    )
    assert setting_differences(a, changed.to_dict()) == ["methods.toy.options.power: 2.0 -> 2.5"]


def test_transfer_rebias_must_be_a_bool():
    raw = _net()
    source = {"target": {"preset": "random", "r": 2, "p": 2}, "n": 64}
    raw["methods"] = {"transfer": {"width": 20, "rebias": "yes", "source": source}}
    with pytest.raises(SpecError, match=r"^methods\.transfer\.rebias: must be a bool"):
        load_spec(raw)
