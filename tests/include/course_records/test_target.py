"""Which importer a landing path means, and which paths are refused outright."""

from __future__ import annotations

import pytest

from include.course_records.errors import UsageError
from include.course_records.target import Target, is_in_progress, resolve_target


@pytest.mark.parametrize(("path", "importer", "course"), [
    ("course/CARD-101/may.csv", "course", "CARD-101"),
    ("course/PHARM-301/Export 2026 (final).CSV", "course", "PHARM-301"),
    ("global/legacy-history.csv", "global", None),
])
def test_landing_path_gives_importer_and_course(path, importer, course):
    target = resolve_target(path)

    assert target == Target(path=path, importer=importer, course=course)
    assert target.name == path.rsplit("/", 1)[-1]


def test_params_may_repeat_what_the_path_says():
    assert resolve_target("course/CARD-101/may.csv", "course", "CARD-101").course == "CARD-101"
    assert resolve_target("global/old.csv", "global", None).importer == "global"


@pytest.mark.parametrize("path", [
    "course/../global/x.csv",
    "course/CARD-101/../../x.csv",
    "../course/CARD-101/x.csv",
    "course/./x.csv",
    "/course/CARD-101/x.csv",
    "/etc/passwd.csv",
    "file:///etc/passwd.csv",
    "course\\CARD-101\\x.csv",
    "course/CARD-101/sub\\x.csv",
    "course/CARD-101/sub/x.csv",
    "course//x.csv",
    "course/x.csv",
    "x.csv",
    "",
])
def test_paths_outside_the_layout_are_refused(path):
    with pytest.raises(UsageError, match="is not a landing file"):
        resolve_target(path)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"])
@pytest.mark.parametrize("where", ["course/CARD-101/a{}b.csv", "course/CARD{}101/x.csv", "global/a{}b.csv"])
def test_control_characters_are_refused(char, where):
    with pytest.raises(UsageError):
        resolve_target(where.format(char))


@pytest.mark.parametrize("char", ["\x85", "\x9b"])
def test_c1_control_characters_are_refused(char):
    with pytest.raises(UsageError):
        resolve_target(f"global/a{char}b.csv")


@pytest.mark.parametrize("path", [
    "course/CARD-101/may.xlsx",
    "course/CARD-101/may.csv.txt",
    "course/CARD-101/may",
    "global/may.csv.part",
    "global/may.part",
    "global/may.csv.tmp",
    "global/may.csv.crdownload",
    "global/~$may.csv",
    "course/CARD-101/~$may.csv",
    "course/CARD-101/.hidden.csv",
    "global/.~lock.may.csv#",
    "global/.may.csv",
])
def test_unfinished_or_non_csv_files_are_refused(path):
    with pytest.raises(UsageError, match=r"is not a finished \.csv file|is not a landing file"):
        resolve_target(path)


@pytest.mark.parametrize("name", ["x.csv.part", "x.part", "~$x.csv", ".hidden.csv", "x.TMP", "x.csv.filepart"])
def test_temporary_names_are_in_progress(name):
    assert is_in_progress(name)


@pytest.mark.parametrize("name", ["x.csv", "part.csv", "x~.csv", "a.b.csv"])
def test_ordinary_names_are_not_in_progress(name):
    assert not is_in_progress(name)


@pytest.mark.parametrize(("path", "importer", "course", "says"), [
    ("course/CARD-101/x.csv", "global", None,
     "importer='global' contradicts the landing path 'course/CARD-101/x.csv', which is for the course importer"),
    ("global/x.csv", "course", None,
     "importer='course' contradicts the landing path 'global/x.csv', which is for the global importer"),
    ("course/CARD-101/x.csv", None, "NEURO-201",
     "course='NEURO-201' contradicts the landing path 'course/CARD-101/x.csv' (course 'CARD-101')"),
    ("course/CARD-101/x.csv", "course", "NEURO-201", "course='NEURO-201' contradicts"),
    ("global/x.csv", None, "CARD-101", "course='CARD-101' makes no sense for the global importer"),
])
def test_a_contradicting_param_is_a_usage_error_that_says_what_clashes(path, importer, course, says):
    with pytest.raises(UsageError) as raised:
        resolve_target(path, importer, course)

    assert says in str(raised.value)
