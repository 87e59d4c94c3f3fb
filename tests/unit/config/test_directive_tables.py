"""The directive tables and the model must agree: a directive cannot be half-added."""

from __future__ import annotations

import dataclasses

import pytest

from ldirectord_py.config.directives import (
    GLOBAL_DIRECTIVES,
    VIRTUAL_DIRECTIVES,
    DirectiveTableError,
    _plain,
    check_tables,
    row,
)
from ldirectord_py.config.model import GlobalSettings, Virtual


def test_the_shipped_tables_agree_with_the_model() -> None:
    check_tables(GLOBAL_DIRECTIVES, VIRTUAL_DIRECTIVES)  # also run at import


def test_a_row_without_a_model_field_is_refused() -> None:
    half_added = row("healthport", _plain)
    with pytest.raises(DirectiveTableError) as info:
        check_tables(GLOBAL_DIRECTIVES, (*VIRTUAL_DIRECTIVES, half_added))
    assert str(info.value) == (
        "directive 'healthport' fills 'healthport', which is not a field of Virtual: "
        "add the field to the model (config/model.py)"
    )


def test_a_nested_row_without_a_model_field_is_refused() -> None:
    half_added = row("emailalertcc", _plain, fields=("emailalert.cc",))
    with pytest.raises(
        DirectiveTableError, match=r"'emailalert\.cc', which is not a field of EmailAlert"
    ):
        check_tables(GLOBAL_DIRECTIVES, (*VIRTUAL_DIRECTIVES, half_added))


def test_a_model_field_without_a_row_is_refused() -> None:
    without_fork = tuple(d for d in GLOBAL_DIRECTIVES if d.name != "fork")
    with pytest.raises(DirectiveTableError) as info:
        check_tables(without_fork, VIRTUAL_DIRECTIVES)
    assert "GlobalSettings.fork is filled by no directive" in str(info.value)


def test_patterns_are_built_from_the_name_by_default() -> None:
    assert row("ops", _plain).pattern.pattern == r"ops\s*=\s*(.*)"
    assert row("login", _plain, quoted=True).pattern.pattern == r'login\s*=\s*"(.*)"'
    assert row("ops", _plain).fields == ("ops",)


def test_every_field_a_row_names_is_real() -> None:
    names = {f.name for f in dataclasses.fields(GlobalSettings)}
    assert all(d.fields == () or d.fields[0].split(".")[0] in names for d in GLOBAL_DIRECTIVES)
    virtual = {f.name for f in dataclasses.fields(Virtual)}
    assert all(d.fields == () or d.fields[0].split(".")[0] in virtual for d in VIRTUAL_DIRECTIVES)


def test_a_virtual_field_is_taken_as_read_unless_the_parser_derives_it() -> None:
    """So a new per-virtual directive is one row and one model field: the parser
    takes its value as read (PLAIN_VIRTUAL_FIELDS) without a line of its own."""
    from ldirectord_py.config.directives import (
        DERIVED_VIRTUAL_FIELDS,
        NOT_FROM_DIRECTIVES,
        PLAIN_VIRTUAL_FIELDS,
    )

    fields = {f.name for f in dataclasses.fields(Virtual)}
    assert (
        set(PLAIN_VIRTUAL_FIELDS) | DERIVED_VIRTUAL_FIELDS | NOT_FROM_DIRECTIVES[Virtual] == fields
    )
    assert not set(PLAIN_VIRTUAL_FIELDS) & DERIVED_VIRTUAL_FIELDS
    assert {"servicename", "comment", "monitorfile", "passwd"} <= set(PLAIN_VIRTUAL_FIELDS)
