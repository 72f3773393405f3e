"""``opinion setup``: the secrets a production deployment needs, written into its ``.env``.

``opinion setup --env-file PATH`` adds each missing secret (Redis password, author-hash salt,
label-signing key: ``pipeline.config_doc.SETUP_WRITES``) to the env file as a random value;
it never changes a value that is there. A new file starts as ``.env.example``; the file is
left mode 0600. ``opinion setup --check`` exits 2 with one line naming what is missing (the
compose ``preflight`` service runs it before anything starts). ``deploy/setup.sh`` runs both
in the image and then creates the first dashboard admin.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import typer

from pipeline.config import Settings, get_settings
from pipeline.config_doc import SETUP_WRITES, env_example

SETUP_HINT = "run `sh deploy/setup.sh` beside docker-compose.yml (it writes them into .env)"
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def env_values(text: str) -> dict[str, str]:
    """``NAME=value`` lines of an env file (comments and blank lines skipped, quotes removed)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip("'\"")
    return values


def new_secret() -> str:
    """A random secret: 43 URL-safe characters (256 bits), safe unquoted in env files."""
    return secrets.token_urlsafe(32)


def ensure_secrets(path: Path) -> list[str]:
    """Add every missing or empty secret to ``path`` (created from ``.env.example`` when
    absent); returns the names added. Existing values are kept; the file ends mode 0600."""
    created = not path.exists()
    text = env_example() if created else path.read_text(encoding="utf-8")
    present = env_values(text)
    added = [name for name in SETUP_WRITES if not present.get(name)]
    if added:
        kept = [line for line in text.splitlines() if (_name(line) not in added)]
        lines = [*kept, "", "# --- written by `opinion setup` ---"]
        lines += [f"{name}={new_secret()}" for name in added]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    if created and os.geteuid() == 0:  # written from a container: give it to the folder's owner
        folder = path.parent.stat()
        os.chown(path, folder.st_uid, folder.st_gid)
    return added


def _name(line: str) -> str | None:
    match = _LINE.match(line)
    return match.group(1) if match else None


def missing_secrets(settings: Settings) -> list[str]:
    """The ``SETUP_WRITES`` secrets these settings lack (the salt counts while it is the
    default; the Redis password may also come inside the Redis URL)."""
    default_salt = Settings.model_fields["author_hash_salt"].default.get_secret_value()
    missing = []
    if settings.redis_password is None and "@" not in (settings.redis_url or ""):
        missing.append("OPINION_REDIS_PASSWORD")
    if settings.author_hash_salt.get_secret_value() == default_salt:
        missing.append("OPINION_AUTHOR_HASH_SALT")
    if settings.label_signing_key is None:
        missing.append("OPINION_LABEL_SIGNING_KEY")
    return missing


def setup_command(
    env_file: Path = typer.Option(Path(".env"), "--env-file", help="The env file to complete."),
    check: bool = typer.Option(
        False, "--check", help="Write nothing: exit 2 if this environment lacks a secret."
    ),
) -> None:
    """Write the deployment's missing secrets into .env (never changing one), or --check them."""
    if check:
        missing = missing_secrets(get_settings())
        if missing:
            typer.secho(f"error: missing {', '.join(missing)}: {SETUP_HINT}", fg="red", err=True)
            raise typer.Exit(2)
        typer.echo("ok: every secret is set")
        return
    try:
        added = ensure_secrets(env_file)
    except OSError as exc:
        typer.secho(f"error: cannot write {env_file}: {exc.strerror}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if added:
        typer.echo(f"wrote {', '.join(added)} to {env_file} (mode 0600)")
    else:
        typer.echo(f"{env_file} already has every secret; nothing changed")


def register(app: typer.Typer) -> None:
    """Add ``opinion setup`` to the project CLI."""
    app.command("setup")(setup_command)
