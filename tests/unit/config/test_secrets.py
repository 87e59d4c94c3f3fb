"""The values of passwd and secret never leave `validate`, whatever the line holds."""

from __future__ import annotations

import pytest

from ldirectord_py.config.secrets import mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('\tpasswd="S3cret"', '\tpasswd="********'),
        ('\tpasswd="pa"ss"', '\tpasswd="********'),  # a quote inside the password
        ("\tsecret = radius-key # c", "\tsecret = ********"),
        ('Unknown command "\tpasswd = hunter2\n"', 'Unknown command "\tpasswd = ********\n"'),
        ('\tlogin="operator"', '\tlogin="operator"'),
        ("\treal=127.0.0.1:80 gate", "\treal=127.0.0.1:80 gate"),
    ],
)
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked
