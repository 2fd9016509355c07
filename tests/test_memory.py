import pytest

from fastrep import _memory


def test_budget_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv("FASTREP_MAX_MEMORY", "1000")
    assert _memory.resolve_max_memory(5000) == 5000
    assert _memory.resolve_max_memory() == 1000


def test_default_budget_is_a_share_of_available(monkeypatch):
    monkeypatch.delenv("FASTREP_MAX_MEMORY", raising=False)
    monkeypatch.setattr(_memory, "available_memory", lambda: 8000)
    assert _memory.resolve_max_memory() == int(_memory.DEFAULT_FRACTION * 8000)


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (0, ValueError), (float("nan"), ValueError),
                                      ("4GB", TypeError), (True, TypeError)])
def test_bad_budget_names_the_argument(bad, exc):
    with pytest.raises(exc, match="max_memory"):
        _memory.resolve_max_memory(bad)


def test_bad_environment_budget(monkeypatch):
    monkeypatch.setenv("FASTREP_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="FASTREP_MAX_MEMORY"):
        _memory.resolve_max_memory()


def test_check_allocation_refuses_with_argument_bytes_and_budget():
    assert _memory.check_allocation(10, what="W", argument="width", max_memory=100) == 100
    with pytest.raises(MemoryError, match=r"width: W would need 1\.95 KiB.*budget of 100 bytes"):
        _memory.check_allocation(2000, what="W", argument="width", max_memory=100)
    with pytest.raises(MemoryError, match="unbounded"):
        _memory.check_allocation(float("inf"), what="W", argument="width", max_memory=100)
