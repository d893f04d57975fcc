"""``python -m trading users create|list|revoke|add-key``: users and keys from the shell.

Works on ``<data_dir>/users.sqlite3`` directly, with or without a running server (the server
notices within ``TRADING_AUTH_REFRESH_S``). A new key is printed once, alone on stdout, so
``KEY=$(python -m trading users create alice)`` captures it; what a person reads goes to
stderr. ``users list`` shows ids and dates, never a secret (only hashes are stored anyway).
Exit codes: 0 done, 2 refused (unknown user or key, a name taken or malformed), with one line
on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import TextIO

from trading.auth.userstore import UserError, UserStore
from trading.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser("users", help="manage the users and API keys of TRADING_AUTH=keys")
    actions = users.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a user; prints its first key once")
    create.add_argument("name")
    actions.add_parser("list", help="list users and their key ids (no secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key (its sessions end, sockets close)")
    revoke.add_argument("key_id")
    add_key = actions.add_parser("add-key", help="another key for a user; prints it once")
    add_key.add_argument("user", help="user name or id")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _day(ms: int | None) -> str:
    if ms is None:
        return "-"
    stamp = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def run(args: argparse.Namespace, settings: Settings,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:  # fmt: skip
    store = UserStore(settings.data_dir)
    try:
        return _run(store, args, out, err)
    except UserError as exc:
        print(f"trading: {exc}", file=err)
        return 2
    finally:
        store.close()


def _run(store: UserStore, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "create":
        user, key = store.create_user(args.name, _now_ms())
        print(f"created user {user.name} ({user.id}) with key {user.keys[0].id}; "
              "the key below is shown only this once", file=err)  # fmt: skip
        print(key, file=out)
    elif args.action == "add-key":
        row, key = store.add_key(args.user, _now_ms())
        print(f"added key {row.id} to user {row.user_id}; "
              "the key below is shown only this once", file=err)  # fmt: skip
        print(key, file=out)
    elif args.action == "revoke":
        if store.revoke(args.key_id, _now_ms()):
            print(f"revoked {args.key_id}", file=out)
        else:
            print(f"{args.key_id} was revoked already", file=out)
    else:
        _list(store, out)
    return 0


def _list(store: UserStore, out: TextIO) -> None:
    users = store.users()
    if not users:
        print("no users", file=out)
    for user in users:
        print(f"{user.id}  {user.name}  created {_day(user.created)}", file=out)
        for key in user.keys:
            state = f"revoked {_day(key.revoked)}" if key.revoked is not None else "active"
            print(f"    {key.id}  created {_day(key.created)}  {state}", file=out)
