"""The reader: bytes → header, rows with the file's own line numbers, and F01/F04/F05 findings.

The corpus (test_corpus.py) runs one minimal file per rule through the whole check; these
tests pin down the reader's own edges: encodings, line endings, and where the line numbers
come from when a file has blank lines or values spanning lines.
"""

from __future__ import annotations

import pandas as pd
import pytest

from include.course_records.reader import LINE, read_course_records

HEADER = "external_email,first_name,last_name\n"


def read(text: str):
    return read_course_records(text.encode("utf-8"))


def findings(result) -> list[tuple[str, int]]:
    return [(issue.rule, issue.line) for issue in result.issues]


def lines_by_email(result) -> dict[str, int]:
    return dict(zip(result.rows["external_email"], result.rows[LINE], strict=True))


def test_bom_and_crlf_are_accepted_and_ignored():
    data = "\ufeff" + HEADER + "ada@example.org,Ada,Lovelace\ngrace@example.org,Grace,Hopper\n"

    result = read_course_records(data.replace("\n", "\r\n").encode("utf-8"))

    assert result.issues == []
    assert result.header == ["external_email", "first_name", "last_name"]  # no BOM on the first name
    assert result.rows.drop(columns=LINE).to_dict("records") == [
        {"external_email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"},
        {"external_email": "grace@example.org", "first_name": "Grace", "last_name": "Hopper"},
    ]  # no \r left on the last column
    assert list(result.rows[LINE]) == [2, 3]


def test_not_utf8_reports_the_first_bad_line_only():
    data = (HEADER + "ada@example.org,Ada,Lovelace\nb@example.org,Zo\xeb,Ek\nc@example.org,R\xe9my,Fo\n").encode("latin-1")

    result = read_course_records(data)

    assert findings(result) == [("F01", 3)]
    assert result.issues[0].message.startswith("line 3: byte 0xeb is not valid UTF-8")
    assert "save the file as UTF-8" in result.issues[0].message
    assert result.rows is None


def test_not_utf8_with_crlf_and_bom_counts_lines_the_same():
    data = ("\ufeff" + HEADER.replace("\n", "\r\n") + "ada@example.org,Ada,Lovelace\r\n").encode()
    data += "b@example.org,Zo\xeb,Ek\r\n".encode("latin-1")

    assert findings(read_course_records(data)) == [("F01", 3)]


@pytest.mark.parametrize(("separator", "named"), [(";", "semicolons"), ("\t", "tabs")])
def test_wrong_delimiter_is_f04_on_line_1(separator, named):
    text = HEADER.replace(",", separator) + separator.join(["ada@example.org", "Ada", "Lovelace"]) + "\n"

    result = read(text)

    assert findings(result) == [("F04", 1)]
    assert f"separated by {named}, not commas" in result.issues[0].message
    assert result.rows is None


def test_unbalanced_quote_is_reported_where_the_quote_opens():
    text = (HEADER + "ada@example.org,Ada,Lovelace\n"
            + 'grace@example.org,"Grace,Hopper\n'  # line 3: the quote opens and never closes
            + "alan@example.org,Alan,Turing\nbo@example.org,Bo,Ek\n")

    result = read(text)

    assert findings(result) == [("F04", 3)]
    assert result.issues[0].message.startswith('line 3: a quote (") opened here is never closed')
    assert result.rows is None


def test_unbalanced_quote_after_a_closed_multiline_value_is_reported_where_it_opens():
    text = (HEADER + 'ada@example.org,"Ada\nAugusta",Lovelace\n'  # lines 2-3: balanced
            + 'grace@example.org,"Grace,Hopper\n'  # line 4: opens, never closes
            + "alan@example.org,Alan,Turing\n")

    assert findings(read(text)) == [("F04", 4)]


def test_unbalanced_quote_on_the_last_line():
    text = HEADER + "ada@example.org,Ada,Lovelace\ngrace@example.org,Grace,\"Hopper\n"

    assert findings(read(text)) == [("F04", 3)]


def test_too_many_values_names_the_line_and_the_counts():
    text = HEADER + "ada@example.org,Ada,Lovelace\ngrace@example.org,Grace,Hopper\nbo@example.org,Bo,Ek,extra\n"

    result = read(text)

    assert findings(result) == [("F04", 4)]
    message = result.issues[0].message
    assert message.startswith('line 4: "bo@example.org,Bo,Ek,extra" has 4 values where the header has 3 columns')
    assert message.endswith("(F04)")
    assert result.rows is None


def test_too_many_values_after_blank_lines_and_in_a_crlf_file():
    text = HEADER + "ada@example.org,Ada,Lovelace\n\n\nbo@example.org,Bo,Ek,extra\n"

    assert findings(read(text)) == [("F04", 5)]
    assert findings(read(text.replace("\n", "\r\n"))) == [("F04", 5)]


def test_too_many_values_after_a_multiline_value_names_the_files_own_line():
    text = (HEADER + 'ada@example.org,"Ada\nAugusta",Lovelace\n'  # lines 2-3
            + "grace@example.org,Grace,Hopper\n"  # line 4
            + "bo@example.org,Bo,Ek,extra\n")  # line 5

    result = read(text)

    assert findings(result) == [("F04", 5)]
    assert result.issues[0].message.startswith('line 5: "bo@example.org,Bo,Ek,extra"')


def test_unbalanced_quote_line_ignores_unicode_line_separators_inside_values():
    text = (HEADER + "ada@example.org,Ada\u2028Augusta,Lovelace\n"  # line 2: U+2028 is not a line break
            + 'grace@example.org,"Grace,Hopper\n'  # line 3
            + "alan@example.org,Alan,Turing\n")

    assert findings(read(text)) == [("F04", 3)]


def test_blank_lines_and_multiline_values_keep_the_files_line_numbers():
    text = (HEADER
            + "ada@example.org,Ada,Lovelace\n"  # 2
            + "\n\n"  # 3, 4
            + "grace@example.org,Grace,Hopper\n"  # 5
            + 'alan@example.org,"Alan\nMathison",Turing\n'  # 6-7
            + "bo@example.org,Bo,Ek\n"  # 8
            + "\n")  # 9: a trailing blank line

    result = read(text)

    assert result.issues == []
    assert lines_by_email(result) == {"ada@example.org": 2, "grace@example.org": 5, "alan@example.org": 6,
                                      "bo@example.org": 8}
    assert result.rows.loc[result.rows["external_email"] == "alan@example.org", "first_name"].item() == "Alan\nMathison"


def test_line_numbers_in_a_crlf_file_with_a_blank_line_and_a_multiline_value():
    text = HEADER + "ada@example.org,Ada,Lovelace\n\n" + 'grace@example.org,"Grace\nB",Hopper\n' + "bo@example.org,Bo,Ek\n"

    result = read(text.replace("\n", "\r\n"))

    assert lines_by_email(result) == {"ada@example.org": 2, "grace@example.org": 4, "bo@example.org": 6}


def test_a_line_of_spaces_does_not_shift_later_line_numbers():
    text = HEADER + "ada@example.org,Ada,Lovelace\n   \ngrace@example.org,Grace,Hopper\n"

    result = read(text)

    assert lines_by_email(result) == {"ada@example.org": 2, "grace@example.org": 4}


@pytest.mark.parametrize("text", [HEADER, HEADER.rstrip("\n"), HEADER.replace("\n", "\r\n") + "\r\n"])
def test_a_header_only_file_gives_zero_rows_and_no_reader_issue(text):
    """F05 for a header without rows is the row suite's (rows.json) to say."""
    result = read(text)

    assert result.issues == []
    assert result.header == ["external_email", "first_name", "last_name"]
    assert result.rows is not None and len(result.rows) == 0


def test_an_empty_file_is_f05():
    result = read_course_records(b"")

    assert findings(result) == [("F05", 1)]


def test_duplicate_header_names_are_left_for_the_header_suite():
    result = read("external_email,first_name,first_name\nada@example.org,Ada,Augusta\n")

    assert result.issues == []
    assert result.ok
    assert result.header == ["external_email", "first_name", "first_name"]
    assert result.rows is None  # pandas would rename the second to first_name.1 in silence


def test_every_value_is_text_and_blank_is_missing():
    result = read(HEADER + "ada@example.org,007,\n")

    [row] = result.rows.to_dict("records")
    assert row["first_name"] == "007"  # not 7
    assert pd.isna(row["last_name"])


def test_one_extra_value_on_every_row_is_f04_on_every_line_not_a_shifted_row():
    result = read(HEADER + "ada@example.org,Ada,Lovelace,extra\nbo@example.org,Bo,Ek,extra\n")

    assert findings(result) == [("F04", 2), ("F04", 3)]


def test_a_trailing_comma_on_every_row_never_shifts_values():
    result = read(HEADER + "ada@example.org,Ada,Lovelace,\nbo@example.org,Bo,Ek,\n")

    if result.rows is None:  # refusing the file is fine
        assert findings(result) == [("F04", 2), ("F04", 3)]
    else:  # and so is reading each value into its own column
        assert result.rows.drop(columns=LINE).to_dict("records")[0] == {
            "external_email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"}


def test_fewer_values_than_the_header_is_f04_not_padded_with_blanks():
    result = read(HEADER + "ada@example.org,Ada,Lovelace\ngrace@example.org,Grace\nbo@example.org,Bo,Ek\n")

    assert findings(result) == [("F04", 3)]
    assert result.issues[0].message.startswith('line 3: "grace@example.org,Grace" has 2 values where the header has 3')
    assert result.rows is None
    assert result.data_lines == 3


def test_a_file_with_cr_alone_as_line_end_is_read_line_by_line():
    """Old "CSV (Macintosh)" exports end lines with CR only."""
    result = read((HEADER + "ada@example.org,Ada,Lovelace\n\ngrace@example.org,Grace,Hopper\n").replace("\n", "\r"))

    assert result.issues == []
    assert lines_by_email(result) == {"ada@example.org": 2, "grace@example.org": 4}
    assert result.rows["last_name"].tolist() == ["Lovelace", "Hopper"]


@pytest.mark.parametrize("text", [
    HEADER + "ada@example.org,Ada\rLovelace,Byron\ngrace@example.org,Grace,Hopper\n",  # inside a value
    HEADER.replace("\n", "\r") + "ada@example.org,Ada,Lovelace\ngrace@example.org,Grace,Hopper\n",  # after the header
])
def test_a_bare_cr_outside_quotes_in_a_file_with_lf_is_f04_at_its_line(text):
    result = read(text)

    expected_line = 1 if text.startswith(HEADER.replace("\n", "\r")) else 2
    assert findings(result) == [("F04", expected_line)]
    assert "carriage return" in result.issues[0].message
    assert result.rows is None


def test_a_cr_inside_quotes_is_a_value_not_a_line_end():
    result = read(HEADER + 'ada@example.org,"Ada\rAugusta",Lovelace\ngrace@example.org,Grace,Hopper\n')

    assert result.issues == []
    assert lines_by_email(result) == {"ada@example.org": 2, "grace@example.org": 3}
    assert result.rows["first_name"].tolist() == ["Ada\rAugusta", "Grace"]  # R01 reports the CR


@pytest.mark.parametrize("row", ['ada@example.org,"Ada"x,Lovelace', 'ada@example.org, "Ada",Lovelace',
                                 'ada@example.org,Ad"a",Lovelace'])
def test_a_quote_in_the_middle_of_a_value_is_f04(row):
    result = read(HEADER + row + "\ngrace@example.org,Grace,Hopper\n")

    assert findings(result) == [("F04", 2)]
    assert "inside a value" in result.issues[0].message


def test_a_quoted_value_longer_than_the_csv_modules_limit_is_read():
    long_name = "x" * 200_000
    result = read(HEADER + f'ada@example.org,"{long_name}",Lovelace\n\ngrace@example.org,Grace,Hopper\n')

    assert result.issues == []
    assert result.rows["first_name"].str.len().tolist() == [200_000, 5]


def test_data_lines_are_counted_when_the_bytes_are_not_utf8():
    data = (HEADER + "ada@example.org,Ada,Lovelace\n\nb@example.org,Zo\xeb,Ek\n").encode("latin-1")

    result = read_course_records(data)

    assert findings(result) == [("F01", 4)]
    assert result.data_lines == 2


@pytest.mark.parametrize("hint", ["sep=,", "sep=;", "SEP=,"])
def test_excels_delimiter_hint_line_is_named_not_read_as_the_header(hint):
    result = read(hint + "\n" + HEADER + "ada@example.org,Ada,Lovelace\n")

    assert findings(result) == [("F04", 1)]
    assert "delimiter hint" in result.issues[0].message
