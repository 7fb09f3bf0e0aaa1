"""Great Expectations, imported fast and run without repeated work. Import GX through `load()`.

GX stays the rule engine: nothing here decides a verdict. What is changed was measured, and keeps
GX's results byte-identical (tests/include/course_records/test_gx_speed.py):

* Import time. `import great_expectations` imports scipy.stats and altair for one expectation we
  never use (expect_column_kl_divergence_to_be_less_than: ~1.2 s of a cold `validate`). `load()`
  puts stand-ins for them in `sys.modules` that import the real module on first use.
  It also imports, when they are installed, SQLAlchemy and boto3/botocore for its SQL datasources
  and its S3 stores, which an in-memory pandas batch never touches (~1 s of a cold process).
  GX runs without them (they are optional extras of GX), so while GX imports, in that thread
  only, they look not installed; GX keeps stand-ins for them and anything else that imports
  them, before or after, gets the real ones.
* Expectation kwargs. GX rebuilds an expectation's whole configuration (a pydantic `dict()`)
  for every single kwarg it reads while planning metrics (thousands of times per suite, ~1 s of
  a small file's validation). Within one validation (`scope()`), an expectation object's
  kwargs are read once and reused: these readers only read them, and GX makes a new expectation
  object whenever it changes one.
* Nullable integer columns. `expect_column_values_to_be_between` compares numpy numbers and
  dates vectorised, but pandas' nullable Int64 one value at a time in Python (~3 s per million
  rows). GX drops the missing values before it compares, so such a column arrives without any
  and is handed on as int64/float64: the same comparisons, vectorised.
* Row conditions. GX's pandas engine filters the whole batch with `DataFrame.query` for every
  metric of every expectation that has a `row_condition` (hundreds of filtered copies of the frame
  per suite; ~11 s of pyarrow `take` on a million rows). The filtered frame depends only on the
  batch and the condition, so it is computed once per (batch, condition) and shared: GX's metrics
  read their domain frame, they never write it (and pandas' copy-on-write would keep a write local).
* Domain frames. A column's metrics then index that frame with boolean masks again and again
  (nulls dropped, unexpected rows picked), each time taking every column of it (~30 arrow
  columns: most of a small file's validation). A column, column-pair or column-list domain only
  ever reads its own columns and the index columns the result names, so within `scope()` the
  domain frame carries just those: the same rows, in the same order, with the same index.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import json
import re
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LAZY = ("scipy.stats", "altair")  # imported by GX at start, used only by expectations we don't run
OPTIONAL_EXTRAS = ("sqlalchemy", "boto3", "botocore")  # GX's optional SQL and AWS extras: not for pandas batches


class _NotInstalledHere(importlib.abc.MetaPathFinder):
    """While GX imports: its optional extras, not yet imported, are refused to this thread only."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names, self.thread = names, threading.get_ident()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


class _Deferred(types.ModuleType):
    """A stand-in in sys.modules that imports the real module on the first attribute asked of it."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        with _lock:
            real = sys.modules.get(name)
            if real is self or real is None:
                sys.modules.pop(name, None)
                try:
                    real = importlib.import_module(name)
                except BaseException:
                    sys.modules.setdefault(name, self)
                    raise
        return getattr(real, attr)


_lock = threading.RLock()
_loaded: types.ModuleType | None = None
_PATCHES: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, GX's own, ours)


def _patch(cls: type, name: str, ours: Any) -> None:
    _PATCHES.append((cls, name, cls.__dict__[name], ours))
    setattr(cls, name, ours)


@contextlib.contextmanager
def unpatched() -> Iterator[None]:
    """GX exactly as shipped, for the tests that compare its results with ours."""
    load()
    for cls, name, original, _ in _PATCHES:
        setattr(cls, name, original)
    try:
        yield
    finally:
        for cls, name, _, ours in _PATCHES:
            setattr(cls, name, ours)


def load() -> types.ModuleType:
    """`great_expectations`, imported with the heavy unused dependencies deferred, and patched."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            if "great_expectations" not in sys.modules:
                for name in _LAZY:
                    if name not in sys.modules:
                        spec = importlib.util.find_spec(name)  # imports the parent package only (cheap)
                        if spec is not None:
                            stand_in = sys.modules[name] = _Deferred(name)
                            stand_in.__spec__ = spec
            absent = _NotInstalledHere(frozenset(n for n in OPTIONAL_EXTRAS if n not in sys.modules))
            sys.meta_path.insert(0, absent)
            try:
                import great_expectations
            finally:
                sys.meta_path.remove(absent)

            _patch_row_conditions()
            _patch_domain_records()
            _patch_metric_ids()
            _patch_dependency_graphs()
            _patch_expectation_kwargs()
            _patch_between_on_nullable_numbers()
            _loaded = great_expectations
    return _loaded


# --- row conditions: one filtered frame per (batch, condition) --------------------------------

class _Scope(threading.local):
    """What one validation (in this thread) computed once: filtered frames, expectation kwargs."""

    def __init__(self) -> None:
        self.data: Any = None
        self.frames: dict[tuple[str, Any], Any] = {}
        self.kwargs: dict[int, tuple[Any, dict]] | None = None  # None: outside a scope, nothing kept
        self.index_columns: tuple[str, ...] = ()
        self.narrow: dict[tuple, tuple[Any, Any]] = {}


_filtered = _Scope()


@contextlib.contextmanager
def scope(index_columns: list[str] | tuple[str, ...] = ()) -> Iterator[None]:
    """One validation: reuse what is computed once per batch, and forget it all at the end.

    `index_columns` are the result format's `unexpected_index_column_names`: every domain frame
    keeps them.
    """
    _filtered.data, _filtered.frames, _filtered.kwargs = None, {}, {}
    _filtered.index_columns, _filtered.narrow = tuple(index_columns), {}
    try:
        yield
    finally:
        _filtered.data, _filtered.frames, _filtered.kwargs = None, {}, None
        _filtered.index_columns, _filtered.narrow = (), {}


def _config_kwargs(expectation: Any) -> dict:
    kept = _filtered.kwargs
    if kept is None:
        return expectation.configuration.kwargs
    hit = kept.get(id(expectation))
    if hit is None or hit[0] is not expectation:  # held by the entry, so its id is not reused
        hit = kept[id(expectation)] = (expectation, expectation.configuration.kwargs)
    return hit[1]


def _patch_expectation_kwargs() -> None:
    """GX's Expectation._get_domain_kwargs/_get_success_kwargs/_get_success_kwarg, reading the
    configuration's kwargs through `_config_kwargs` (same code otherwise, GX 1.x)."""
    from great_expectations.expectations import expectation as module

    cls = module.Expectation

    def _get_domain_kwargs(self: Any) -> dict:
        kwargs = _config_kwargs(self)
        domain_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}
        missing_kwargs = set(self.domain_keys) - set(domain_kwargs.keys())
        if missing_kwargs:
            raise module.InvalidExpectationKwargsError(f"Missing domain kwargs: {list(missing_kwargs)}")
        return domain_kwargs

    def _get_success_kwargs(self: Any) -> dict:
        domain_kwargs = self._get_domain_kwargs()
        kwargs = _config_kwargs(self)
        success_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
        success_kwargs.update(domain_kwargs)
        return success_kwargs

    def _get_success_kwarg(self: Any, key: str, default: Any = None) -> Any:
        kwargs = _config_kwargs(self)
        if key in kwargs:
            return kwargs[key]
        field = self.__fields__.get(key)
        if field is not None:
            return field.default if not field.required else default
        module.logger.warning(f'_get_success_kwarg called with key "{key}", '
                              f"but it is not a known field of {type(self).__name__}")
        return default

    for function in (_get_domain_kwargs, _get_success_kwargs, _get_success_kwarg):
        _patch(cls, function.__name__, function)


def _patch_row_conditions() -> None:
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    original = PandasExecutionEngine._apply_row_condition_filter

    def _apply_row_condition_filter(self: Any, data: Any, row_condition: Any, domain_kwargs: dict) -> Any:
        if _filtered.kwargs is None:  # outside scope(): as GX does it
            return original(self, data, row_condition, domain_kwargs)
        try:  # GX passes the condition as a string or its dict form (a pandas pass-through filter)
            condition = row_condition if isinstance(row_condition, str) else \
                json.dumps(row_condition, sort_keys=True)
        except (TypeError, ValueError):  # a condition object: as GX does it
            return original(self, data, row_condition, domain_kwargs)
        if _filtered.data is not data:
            _filtered.data, _filtered.frames = data, {}
        key = (condition, domain_kwargs.get("condition_parser"))
        frame = _filtered.frames.get(key)
        if frame is None:
            frame = _filtered.frames[key] = original(self, data, row_condition, domain_kwargs)
        return frame

    _patch(PandasExecutionEngine, "_apply_row_condition_filter", _apply_row_condition_filter)


# --- domain frames: only the columns a domain reads ----------------------------------------

def _domain_columns(domain_kwargs: dict) -> tuple[str, ...] | None:
    """The columns a column / column-pair / column-list domain reads; None for any other domain."""
    if "column" in domain_kwargs:
        named = [domain_kwargs["column"]]
    elif "column_A" in domain_kwargs and "column_B" in domain_kwargs:
        named = [domain_kwargs["column_A"], domain_kwargs["column_B"]]
    elif "column_list" in domain_kwargs:
        named = list(domain_kwargs["column_list"])
    else:
        return None
    if not all(isinstance(name, str) for name in named):
        return None
    return tuple(dict.fromkeys([*named, *_filtered.index_columns]))


def _patch_domain_records() -> None:
    """A column, column-pair or column-list domain: the batch's rows that meet the row condition
    (`DataFrame.query` is `.loc[eval(condition)]`: the condition is evaluated once, on the columns it
    names), of only the domain's and the index columns, then GX's `ignore_row_if` on those."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    original = PandasExecutionEngine.get_domain_records

    def condition_mask(data: Any, condition: str) -> Any:
        key = (id(data), "mask", condition)
        hit = _filtered.narrow.get(key)
        if hit is None or hit[0] is not data:
            named = [c for c in dict.fromkeys(_NAME.findall(condition)) if c in data.columns]
            hit = _filtered.narrow[key] = (data, data[named].eval(condition, parser="pandas"))
        return hit[1]

    def get_domain_records(self: Any, domain_kwargs: dict) -> Any:
        columns = None if _filtered.kwargs is None or not _filtered.index_columns else _domain_columns(domain_kwargs)
        condition = domain_kwargs.get("row_condition")
        ignore = domain_kwargs.get("ignore_row_if")
        if columns is None or domain_kwargs.get("table") or (condition and (
                not isinstance(condition, str) or domain_kwargs.get("condition_parser") != "pandas")):
            return original(self, domain_kwargs)  # outside scope() or another kind of domain: as GX does it
        whole = original(self, {k: v for k, v in domain_kwargs.items() if k not in ("row_condition", "ignore_row_if")})
        if not set(columns) <= set(whole.columns):
            return original(self, domain_kwargs)
        key = (id(whole), columns, condition, ignore)
        hit = _filtered.narrow.get(key)
        if hit is not None and hit[0] is whole:
            return hit[1]
        data = whole[list(columns)] if len(columns) < len(whole.columns) else whole
        if condition:
            try:
                mask = condition_mask(whole, condition)
            except Exception:  # noqa: BLE001 - a condition this shortcut cannot evaluate: as GX does it
                return original(self, domain_kwargs)
            try:
                data = data.loc[mask]
            except ValueError:  # DataFrame.query's own fallback
                data = data[mask]
        if "column" not in domain_kwargs and ignore is not None:
            pair = "column_A" in domain_kwargs
            subset = [domain_kwargs["column_A"], domain_kwargs["column_B"]] if pair else list(domain_kwargs["column_list"])
            how = {"both_values_are_missing": "all", "either_value_is_missing": "any",
                   "all_values_are_missing": "all", "any_value_is_missing": "any"}.get(ignore)
            if how is not None:
                data = data.dropna(axis=0, how=how, subset=subset)
            elif ignore not in ("neither", "never"):
                return original(self, domain_kwargs)  # GX says what is wrong with it
        _filtered.narrow[key] = (whole, data)
        return data

    _patch(PandasExecutionEngine, "get_domain_records", get_domain_records)


# --- metric ids: plain JSON hashed without GX's general converter --------------------------

_PLAIN = (str, int, bool, type(None))


def _plain(value: Any) -> bool:
    """JSON as it stands: GX's converter would hand it back unchanged (tuples become lists either way)."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if kind is dict or (isinstance(value, dict) and type(value).__name__ == "IDDict"):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    return False


def _patch_metric_ids() -> None:
    """IDDict.to_id hashes a metric's kwargs after passing them through GX's general JSON
    converter (numpy, pandas, dates…): tens of thousands of times per validation. Kwargs that are
    plain JSON already are hashed directly: the same text, so the same id."""
    import hashlib

    from great_expectations.core.id_dict import IDDict

    original = IDDict.to_id

    def to_id(self: Any, id_keys: Any = None, id_ignore_keys: Any = None) -> Any:
        if id_keys is None:
            id_keys = self.keys()
        if id_ignore_keys is None:
            id_ignore_keys = self._id_ignore_keys
        keys = set(id_keys) - set(id_ignore_keys)
        if len(keys) < 2:
            return original(self, id_keys, id_ignore_keys)
        picked = {k: self[k] for k in keys}
        if not _plain(picked):
            return original(self, id_keys, id_ignore_keys)
        return hashlib.md5(json.dumps(picked, sort_keys=True).encode("utf-8"), usedforsecurity=False).hexdigest()

    _patch(IDDict, "to_id", to_id)


# --- metric dependency graphs: planned once per suite ----------------------------------------

_GRAPHS_KEPT = 8


def _patch_dependency_graphs() -> None:
    """Before computing anything, GX plans every expectation's metrics: it copies the expectation,
    makes its domain object, asks it for its metrics and builds their dependency graph (about a
    third of a small file's validation). The plan depends on the expectations as configured, the
    result format, the execution engine and the batch's id — never on the batch's rows (they are
    read when the metrics are resolved) — so it is built once per such key and reused."""
    from collections import OrderedDict

    from great_expectations.validator.validator import Validator

    original = Validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration
    plans: OrderedDict[str, tuple[Any, tuple[list, list, list]]] = OrderedDict()

    def planned(self: Any, expectation_configurations: list, processed_configurations: list,
                catch_exceptions: bool, runtime_configuration: dict | None = None) -> tuple[list, list, list]:
        if _filtered.kwargs is None or processed_configurations:  # outside scope(): as GX does it
            return original(self, expectation_configurations, processed_configurations, catch_exceptions,
                            runtime_configuration)
        try:
            key = json.dumps([id(self._execution_engine), self.active_batch_id, catch_exceptions,
                              runtime_configuration, [c.to_json_dict() for c in expectation_configurations]],
                             sort_keys=True)
        except (TypeError, ValueError):
            return original(self, expectation_configurations, processed_configurations, catch_exceptions,
                            runtime_configuration)
        with _lock:
            hit = plans.get(key)
            if hit is not None and hit[0] is self._execution_engine:
                plans.move_to_end(key)
                graphs, evrs, processed = hit[1]
                return list(graphs), list(evrs), list(processed)
        made = original(self, expectation_configurations, [], catch_exceptions, runtime_configuration)
        with _lock:
            plans[key] = (self._execution_engine, tuple(list(part) for part in made))
            while len(plans) > _GRAPHS_KEPT:
                plans.popitem(last=False)
        return made

    _patch(Validator, "_generate_metric_dependency_subgraphs_for_each_expectation_configuration", planned)


# --- between on nullable numbers: vectorised ------------------------------------------------

def _patch_between_on_nullable_numbers() -> None:
    import pandas as pd
    from great_expectations.expectations.registry import _registered_metrics

    _, provider = _registered_metrics["column_values.between.condition"]["providers"]["PandasExecutionEngine"]
    cell, original = _free_variable(provider, "metric_fn")

    def metric_fn(cls: Any, column: Any, *args: Any, **kwargs: Any) -> Any:
        dtype = column.dtype
        if isinstance(dtype, pd.core.arrays.masked.BaseMaskedDtype) and dtype.kind in "iuf" and not column.hasnans:
            column = column.astype(dtype.numpy_dtype)
        return original(cls, column, *args, **kwargs)

    _PATCHES.append((_Cell(cell), "cell_contents", original, metric_fn))
    cell.cell_contents = metric_fn


class _Cell:
    """A closure cell as something `unpatched()` can set an attribute of."""

    def __init__(self, cell: Any) -> None:
        self.__dict__["cell"] = cell

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.cell, name, value)


def _free_variable(function: Any, name: str) -> tuple[Any, Any]:
    """The innermost closure cell named `name` in `function` or the functions it closes over (GX's
    decorators each keep the function they wrap as `metric_fn`), and its value: the metric itself."""
    seen, todo = set(), [function]
    while todo:
        current = todo.pop()
        if id(current) in seen or not callable(current):
            continue
        seen.add(id(current))
        code, cells = getattr(current, "__code__", None), getattr(current, "__closure__", None) or ()
        if code is None:
            continue
        for free, cell in zip(code.co_freevars, cells, strict=True):
            inner = cell.cell_contents
            if free == name and name not in getattr(getattr(inner, "__code__", None), "co_freevars", ()):
                return cell, inner
            todo.append(inner)
    raise RuntimeError(f"GX changed: no {name} behind {function!r}; update include/course_records/gx_speed.py")
