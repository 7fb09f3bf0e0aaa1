"""enrich's set-based helpers against the plain pandas (or PostgreSQL) they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.course_records.chunked import _codes
from include.course_records.enrich import _distinct_per_key, _lookup_keys, _paired, _positions, text_array
from include.course_records.reader import count_data_lines

KEYS = st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)),
                max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(KEYS)  # the connection only reads (and is rolled back): one for every example is fine
def test_text_array_reaches_postgresql_as_the_same_strings(conn, keys):
    sent = _lookup_keys(pd.Series(keys, dtype="str"))  # distinct, no missing, no NUL
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(array_agg(k ORDER BY n), '{}') FROM unnest(%s::text[]) WITH ORDINALITY AS u(k, n)",
                    (text_array(sent),))
        received = cur.fetchone()[0]
    conn.rollback()
    assert received == sent.to_pylist()
    assert sorted(received) == sorted({k for k in keys if k is not None and "\x00" not in k})


@settings(max_examples=100, deadline=None)
@given(KEYS, KEYS)
def test_positions_match_pandas_get_indexer(keys, table):
    index = pd.Index(pd.Series(table, dtype="str").dropna().drop_duplicates().array)
    found = _positions(index, pd.Series(keys, dtype="str"))
    expected = [index.get_loc(k) if k is not None and k in index else -1 for k in keys]
    assert found.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from("abcd")), st.one_of(st.none(), st.sampled_from("wxyz"))),
                max_size=25))
def test_distinct_per_key_and_pairing_match_groupby(pairs):
    key = pd.Series([p[0] for p in pairs], dtype="str")
    other = pd.Series([p[1] for p in pairs], dtype="str")
    where = pd.Series([True] * len(pairs), dtype="boolean")
    key_codes, other_codes = pd.factorize(key)[0], pd.factorize(other)[0]
    got = _distinct_per_key(key_codes, other_codes, where)
    expected = pd.DataFrame({"k": key, "o": other}).groupby("k")["o"].transform("nunique")
    assert got.fillna(-1).tolist() == expected.astype("Int64").fillna(-1).tolist()
    # the first `other` the file gives with each key, for rows without one (enrich._join_learners)
    first = {}
    for k, o in pairs:
        if k is not None and o is not None:
            first.setdefault(k, o)
    paired = _paired(key_codes, other_codes)
    uniques = pd.factorize(other)[1]
    shown = [uniques[c] if c >= 0 else None for c in paired]
    assert shown == [o if o is not None else first.get(k) for k, o in pairs]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 40), max_size=60))
def test_codes_number_keys_by_first_appearance_like_factorize(values):
    array = np.asarray(values, dtype=np.int64)
    assert _codes(array).tolist() == pd.factorize(array)[0].tolist()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="a ,\n\r\t\x1f\x0b\u00a0\u2003\x85é", max_size=30))
def test_count_data_lines_counts_what_a_person_counts(text):
    for data in (text, text.encode("utf-8")):
        newline = ("\n" if isinstance(data, str) else b"\n")
        if newline not in data:
            newline = "\r" if isinstance(data, str) else b"\r"
        assert count_data_lines(data) == sum(1 for line in data.split(newline)[1:] if line.strip())
