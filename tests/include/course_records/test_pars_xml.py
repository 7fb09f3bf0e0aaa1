"""The activity XML against its documented layout (docs/pars.md), and the writer's value handling."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from lxml import etree

from include.course_records import pars
from include.course_records.pars_xml import ADDRESS, EXTENSION, HX, LOM, MEMS, iso_duration
from tests.conftest import REPO
from tests.include.course_records.pars_catalogue import enroll, set_course

PREFIXES = {MEMS: "m", LOM: "lom", HX: "hx", ADDRESS: "a", EXTENSION: "cr"}
GOLDEN_XML = sorted((REPO / "tests" / "golden" / "pars").glob("*/*activities.xml"))


def documented_layout() -> dict[str, str]:
    """docs/pars.md's "Activity elements" table: element path → when it is written."""
    text = (REPO / "docs" / "pars.md").read_text(encoding="utf-8")
    section = text.split("### Activity elements", 1)[1].split("\n## ", 1)[0]
    return {match[1]: match[2].strip() for match in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \|", section, re.M)}


def written_paths(metrics: etree._Element) -> list[str]:
    """Every leaf element and attribute below one MedicalEducationMetrics, as prefix:name paths."""
    found = []
    for element in metrics.iterdescendants():
        path = "/".join(_name(e) for e in reversed([element, *element.iterancestors()][:-2]))
        if len(element) == 0:
            found.append(path)
        found += [f"{path}/@{attribute}" for attribute in element.attrib]
    return found


def _name(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"{PREFIXES[qname.namespace]}:{qname.localname}"


def test_the_golden_files_cover_every_activity_kind():
    names = {path.parent.name + "/" + path.name for path in GOLDEN_XML}
    assert {"2025/activities.xml", "2026/activities.xml", "2026/ja-activities.xml"} <= names


@pytest.mark.parametrize("path", GOLDEN_XML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_element_written_is_documented_and_every_always_element_is_written(path):
    layout = documented_layout()
    always = {element for element, when in layout.items() if when.startswith("always")}
    root = etree.parse(str(path)).getroot()

    assert root.tag == "ACCMEActivities" and root.nsmap.get("cr") == EXTENSION
    for metrics in root:
        assert metrics.tag == f"{{{MEMS}}}MedicalEducationMetrics"
        paths = written_paths(metrics)
        assert set(paths) - set(layout) == set(), "written but not in docs/pars.md"
        assert always - set(paths) == set(), "documented as always, not written"
        assert [c.get("category") for c in metrics.iterfind(f"{{{MEMS}}}ParticipationMetrics/*")] == [
            "Physicians", "Other Learners"]


def test_our_namespace_appears_only_inside_xtensibleinfo():
    for path in GOLDEN_XML:
        for element in etree.parse(str(path)).getroot().iter(f"{{{EXTENSION}}}*"):
            assert etree.QName(element.getparent()).localname == "XtensibleInfo"


def test_the_layout_table_names_the_files_elements_in_mems_order():
    # MEMS is a sequence: ReportDescription, ActivityDescription, ParticipationMetrics, XtensibleInfo
    top = [element.split("/")[0] for element in documented_layout()]
    assert list(dict.fromkeys(top)) == ["m:ReportDescription", "m:ActivityDescription", "m:ParticipationMetrics",
                                        "m:XtensibleInfo"]


@pytest.mark.parametrize(("hours", "duration"), [
    ("2", "PT2H"), ("2.00", "PT2H"), ("1.5", "PT1H30M"), ("0.25", "PT15M"), ("1.33", "PT1H19M48S"), ("0", "PT0S")])
def test_hours_of_instruction_are_an_iso_8601_duration(hours, duration):
    assert iso_duration(Decimal(hours)) == duration


def test_hostile_values_are_escaped_and_kept_on_one_line(conn):
    set_course(conn, "CARD-101", title="Heart </lom:string> & <b>lungs</b>\t\x0b\r\n2026 ",
               pars_description="\x01bell\x07 ]]> \ud7ff\ufffe")
    enroll(conn, "CARD-101", "x@example.org", start="2026-03-01 08:00Z", completed="2026-03-02 10:00Z")

    xml = pars.activity_file(pars.build_report(conn, 2026), pars.PARS)

    general = etree.fromstring(xml).find(f".//{{{LOM}}}general")
    assert general.findtext(f"{{{LOM}}}title/{{{LOM}}}string") == "Heart </lom:string> & <b>lungs</b> 2026"
    assert general.findtext(f"{{{LOM}}}description/{{{LOM}}}string") == "bell ]]> \ud7ff"
    assert b"&lt;/lom:string&gt; &amp; &lt;b&gt;" in xml
