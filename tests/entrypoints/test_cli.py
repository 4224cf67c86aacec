"""The CLI refuses misconfiguration with a clear message and a non-zero exit."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from entrypoints.cli.main import main

_SERVICE_VARIABLES = ("DATABASE_URL", "RABBITMQ_URL", "REDIS_URL", "METACHAT_SECRET_KEY", "PORT", "HOST")


@attrs.frozen
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    handlers = logging.getLogger().handlers[:]
    for name in _SERVICE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        logging.getLogger().handlers[:] = handlers


def _metachat(args: list[str], env: dict[str, str]) -> Outcome:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with _environment(env), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(args)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return Outcome(code, stdout.getvalue(), stderr.getvalue())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://nope"}, "DATABASE_URL must be a postgresql:// URL"),
        ({"RABBITMQ_URL": "http://x"}, "RABBITMQ_URL must be an amqp:// URL"),
        ({"PORT": "eighty"}, "PORT must be a whole number"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"OPENAI_EMBEDDING_MAX_TOKENS": "0"}, "OPENAI_EMBEDDING_MAX_TOKENS must be at least 16"),
        ({"DATABASE_URL": "postgresql://u@127.0.0.1:1/db"}, "METACHAT_SECRET_KEY is required"),
    ],
)
def test_bad_configuration_exits_2_with_a_message(env: dict[str, str], message: str, tmp_path: Path) -> None:
    result = _metachat(["api"], {"METACHAT_DATA_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    assert message in result.stderr


def test_unreachable_database_exits_2(tmp_path: Path) -> None:
    result = _metachat(
        ["migrate"],
        {
            "METACHAT_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://user@127.0.0.1:1/metachat",
            "METACHAT_SECRET_KEY": "A" * 43,
        },
    )
    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _metachat(["api"], {"METACHAT_DATA_DIR": str(tmp_path), "PORT": str(port)})
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_secret_key_command_prints_a_usable_key() -> None:
    result = _metachat(["secret-key"], {})
    assert result.returncode == 0
    from adapters.crypto.aes_gcm import AesGcmSecretCipher

    cipher = AesGcmSecretCipher.from_encoded_key(result.stdout.strip())
    assert cipher.decrypt(cipher.encrypt(b"x", context=b"c"), context=b"c") == b"x"
