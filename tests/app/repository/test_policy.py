"""Version policies: TF Serving's latest / latest:N / all / specific, as strings."""

from __future__ import annotations

import pytest

from app.repository.policy import PolicyError, VersionPolicy

VERSIONS = [3, 1, 7, 2]


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("latest", {7}),
        ("LATEST", {7}),
        ("latest:2", {7, 3}),
        ("latest:10", {1, 2, 3, 7}),
        ("all", {1, 2, 3, 7}),
        ("specific:1,3", {1, 3}),
        ("specific: 3, 9", {3}),
        ("specific:9", set()),
    ],
)
def test_each_policy_selects_its_versions(text: str, selected: set[int]) -> None:
    assert VersionPolicy.parse(text).select(VERSIONS) == selected


def test_nothing_to_choose_from_selects_nothing() -> None:
    for text in ("latest", "latest:3", "all", "specific:1"):
        assert VersionPolicy.parse(text).select([]) == frozenset()


@pytest.mark.parametrize("text", ["latest", "latest:3", "all", "specific:1,3"])
def test_a_policy_prints_as_it_is_written(text: str) -> None:
    assert str(VersionPolicy.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("newest", "unknown version policy"),
        ("latest:0", "N >= 1"),
        ("latest:-1", "unknown version policy"),
        ("latest:two", "unknown version policy"),
        ("specific:", "unknown version policy"),
        ("specific:0,1", "positive integers"),
        ("specific:1,,2", "unknown version policy"),
        ("", "unknown version policy"),
    ],
)
def test_invalid_policies_are_refused_with_the_forms_that_work(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        VersionPolicy.parse(text)
