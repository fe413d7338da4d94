"""compare(): numbers within tolerance, structure, readable difference lines."""

from __future__ import annotations

from aiedge.smoke.compare import MAX_LINES, compare


def test_numbers_within_tolerance_match() -> None:
    assert compare({"predictions": [-28.7639923]}, {"predictions": [-28.76399]}, rtol=1e-5, atol=1e-6) == []
    assert compare([1, 2.0], [1.0, 2], rtol=0, atol=0) == []
    assert compare(float("nan"), float("nan"), rtol=0, atol=0) == []


def test_a_wrong_number_names_its_place_and_the_tolerance() -> None:
    diffs = compare({"predictions": [-28.7639923]}, {"predictions": [-28.88]}, rtol=1e-5, atol=1e-6)
    assert len(diffs) == 1
    assert diffs[0].startswith("$.predictions[0]: expected -28.7639923, got -28.88 (off by 0.116, allowed")


def test_structure_differences() -> None:
    assert compare({"a": 1}, {"b": 1}, rtol=0, atol=0) == ["$.a: missing from the answer"]
    assert compare([1, 2], [1], rtol=0, atol=0) == ["$: expected 2 items, got 1"]
    assert compare({"a": "x"}, {"a": 1}, rtol=0, atol=0) == ["$.a: expected 'x', got 1"]
    assert compare(True, 1, rtol=0, atol=0) == ["$: expected True, got 1"]


def test_extra_keys_in_the_answer_are_fine() -> None:
    assert (
        compare(
            {"outputs": [{"data": [1]}]}, {"model_version": "1", "outputs": [{"data": [1]}]}, rtol=0, atol=0
        )
        == []
    )


def test_long_lists_are_cut() -> None:
    diffs = compare(list(range(100)), [x + 1 for x in range(100)], rtol=0, atol=0)
    assert len(diffs) == MAX_LINES + 1 and diffs[-1] == f"... and {100 - MAX_LINES} more differences"


def test_exact_wants_the_same_document() -> None:
    assert compare({"predictions": [331]}, {"predictions": [331.0]}, rtol=1e-5, atol=1e-6) == []
    assert compare({"predictions": [331]}, {"predictions": [331.0]}, rtol=1e-5, atol=1e-6, exact=True) == [
        "$.predictions[0]: expected 331, got 331.0 (exact: another number type)"
    ]
    assert compare({"p": [1.5]}, {"p": [1.5000001]}, rtol=1e-5, atol=1e-6, exact=True) == [
        "$.p[0]: expected 1.5, got 1.5000001 (off by 1e-07, allowed 0)"
    ]
    assert compare({"p": 1}, {"p": 1, "id": "x"}, rtol=0, atol=0, exact=True) == [
        "$.id: not in the expected response (exact)"
    ]
    assert compare({"p": [-28.7639923]}, {"p": [-28.7639923]}, rtol=0, atol=0, exact=True) == []
