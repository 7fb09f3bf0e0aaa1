"""The rule list people read (docs/file-format.md) is the suites' own, kept equal by a test."""

from __future__ import annotations

import re

from include.course_records import rulebook
from tests.conftest import REPO

DOC = REPO / "docs" / "file-format.md"


def test_the_documented_rules_are_the_generated_ones():
    section = rulebook.generated_section(DOC.read_text(encoding="utf-8"))

    assert section is not None, "docs/file-format.md lost its rule markers"
    assert section == rulebook.rules_markdown(), (
        "docs/file-format.md is out of date: python -m include.course_records.rulebook --write docs/file-format.md")


def test_every_rule_id_is_checked_somewhere_and_every_checked_id_is_documented():
    in_suites = {e["meta"]["rule"] for e in rulebook.suite_expectations()}
    sources = REPO / "include" / "course_records"
    in_code = {rule for name in ("reader.py", "check.py")
               for rule in re.findall(r'"([FRW]\d\d)"', (sources / name).read_text(encoding="utf-8"))}

    assert in_suites | in_code == set(rulebook.RULES)
    assert {rule for rule in rulebook.RULES if rule[0] in "RW"} <= in_suites, "row rules are the suites' alone"


def test_each_expectation_has_its_rules_severity_and_level():
    for expectation in rulebook.suite_expectations():
        meta = expectation["meta"]
        rule = rulebook.RULES[meta["rule"]]
        assert (meta["severity"], meta["level"]) == (rule.severity, rule.level), meta
        if "precaution" in meta:
            assert meta["precaution"] in rulebook.PRECAUTIONS


def test_every_documented_rule_appears_in_the_readme_rule_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")

    assert "docs/file-format.md" in readme
    for rule in rulebook.RULES:
        assert rule in readme, f"README does not mention {rule}"
