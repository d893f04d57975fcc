"""The schema of the broker's SQLite file, as the list of migrations that build it (broker.md
§12): migration N brings a file from ``PRAGMA user_version`` N-1 to N, in one transaction
(:func:`trading.broker.sqlite_file.migrate`). A migration is never edited once released: a
change of the schema is a new one at the end, which carries the rows of every older file.
"""

from __future__ import annotations

from trading.broker.accounts import DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_NAME

_ORDER_COLUMNS = (
    "id, seq, symbol, type, side, qty, status, limit_price, stop_price, take_profit, stop_loss, "
    "guaranteed_stop, trailing_stop_pips, stop_type, filled_qty, avg_price, update_time, parent, "
    "role, triggered, parent_type, duration_type, duration_datetime, expires_at, message_type, "
    "message_text"
)
"""The order columns as every migration before the accounts one left them (in their order)."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        initial_balance TEXT NOT NULL,
        realized TEXT NOT NULL,
        commissions TEXT NOT NULL,
        order_seq INTEGER NOT NULL,
        fill_seq INTEGER NOT NULL
    );
    CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        type INTEGER NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        status INTEGER NOT NULL,
        limit_price TEXT, stop_price TEXT, take_profit TEXT, stop_loss TEXT,
        guaranteed_stop TEXT, trailing_stop_pips TEXT, stop_type INTEGER,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        update_time INTEGER NOT NULL,
        parent TEXT,
        role TEXT,
        triggered INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE executions (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        time INTEGER NOT NULL,
        commission TEXT NOT NULL,
        realized TEXT NOT NULL
    );
    CREATE INDEX executions_symbol ON executions (symbol, seq);
    CREATE TABLE positions (symbol TEXT PRIMARY KEY, q TEXT NOT NULL, avg TEXT NOT NULL);
    CREATE TABLE leverage (symbol TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # bracket parent links (issue 13, broker.md §14): what a child protects, 1 its entry order
    # (the child INACTIVE until the entry fills), 2 the position; children stored before this
    # were the position's (``parent`` held its symbol)
    """
    ALTER TABLE orders ADD COLUMN parent_type INTEGER;
    UPDATE orders SET parent_type = 2 WHERE parent IS NOT NULL;
    """,
    # order durations and messages (issue 13, broker.md §18): NULLs are a GTC order without a
    # message, which is what every order written before this migration was
    """
    ALTER TABLE orders ADD COLUMN duration_type TEXT;
    ALTER TABLE orders ADD COLUMN duration_datetime INTEGER;
    ALTER TABLE orders ADD COLUMN expires_at INTEGER;
    ALTER TABLE orders ADD COLUMN message_type TEXT;
    ALTER TABLE orders ADD COLUMN message_text TEXT;
    """,
    # issue 13, idempotent placement (broker.md §15): the placements remembered per account
    # and key, written in the transaction of their order; `created` finds the expired ones
    """
    CREATE TABLE idempotency_keys (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        order_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (account, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
    """,
    # issue 13, orders history (broker.md §16): the order in which orders became final
    # (hseq, never reused), the keyset of GET /orders/history. An older database gets its
    # final orders (canceled 1, filled 2, rejected 5) in the order of their last update.
    """
    CREATE TABLE order_history (
        hseq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id TEXT NOT NULL UNIQUE,
        update_time INTEGER NOT NULL,
        status INTEGER NOT NULL
    );
    CREATE INDEX order_history_time ON order_history (update_time, hseq);
    INSERT INTO order_history (order_id, update_time, status)
        SELECT id, update_time, status FROM orders WHERE status IN (1, 2, 5)
        ORDER BY update_time, seq;
    """,
    # issue 14, many accounts (broker.md §20): every row belongs to one account. The one
    # account so far becomes DEMO-ACCOUNT (what TRADING_AUTH=off serves); order and execution
    # numbers are per account; tables whose key must now include the account are rebuilt with
    # their rows (positions keep their rowid: the opening order).
    f"""
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        owner TEXT,
        name TEXT NOT NULL,
        currency TEXT NOT NULL,
        initial_balance TEXT NOT NULL,
        realized TEXT NOT NULL,
        commissions TEXT NOT NULL,
        order_seq INTEGER NOT NULL,
        fill_seq INTEGER NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX accounts_owner ON accounts (owner, seq);
    INSERT INTO accounts SELECT '{DEFAULT_ACCOUNT}', 1, NULL, '{DEFAULT_ACCOUNT_NAME}', 'USD',
        initial_balance, realized, commissions, order_seq, fill_seq, 0 FROM account;
    DROP TABLE account;
    CREATE TABLE orders_new (
        account TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        type INTEGER NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        status INTEGER NOT NULL,
        limit_price TEXT, stop_price TEXT, take_profit TEXT, stop_loss TEXT,
        guaranteed_stop TEXT, trailing_stop_pips TEXT, stop_type INTEGER,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        update_time INTEGER NOT NULL,
        parent TEXT,
        role TEXT,
        triggered INTEGER NOT NULL DEFAULT 0,
        parent_type INTEGER,
        duration_type TEXT, duration_datetime INTEGER, expires_at INTEGER,
        message_type TEXT, message_text TEXT,
        PRIMARY KEY (account, id),
        UNIQUE (account, seq)
    );
    INSERT INTO orders_new SELECT '{DEFAULT_ACCOUNT}', {_ORDER_COLUMNS} FROM orders;
    DROP TABLE orders;
    ALTER TABLE orders_new RENAME TO orders;
    CREATE TABLE executions_new (
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side INTEGER NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        time INTEGER NOT NULL,
        commission TEXT NOT NULL,
        realized TEXT NOT NULL,
        PRIMARY KEY (account, seq)
    );
    INSERT INTO executions_new SELECT '{DEFAULT_ACCOUNT}', seq, order_id, symbol, side, qty,
        price, time, commission, realized FROM executions;
    DROP TABLE executions;
    ALTER TABLE executions_new RENAME TO executions;
    CREATE INDEX executions_symbol ON executions (account, symbol, seq);
    CREATE TABLE positions_new (
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        q TEXT NOT NULL,
        avg TEXT NOT NULL,
        PRIMARY KEY (account, symbol)
    );
    INSERT INTO positions_new (rowid, account, symbol, q, avg)
        SELECT rowid, '{DEFAULT_ACCOUNT}', symbol, q, avg FROM positions;
    DROP TABLE positions;
    ALTER TABLE positions_new RENAME TO positions;
    CREATE TABLE leverage_new (
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, symbol)
    );
    INSERT INTO leverage_new SELECT '{DEFAULT_ACCOUNT}', symbol, value FROM leverage;
    DROP TABLE leverage;
    ALTER TABLE leverage_new RENAME TO leverage;
    CREATE TABLE order_history_new (
        hseq INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        order_id TEXT NOT NULL,
        update_time INTEGER NOT NULL,
        status INTEGER NOT NULL,
        UNIQUE (account, order_id)
    );
    INSERT INTO order_history_new SELECT hseq, '{DEFAULT_ACCOUNT}', order_id, update_time, status
        FROM order_history;
    DROP TABLE order_history;
    ALTER TABLE order_history_new RENAME TO order_history;
    CREATE INDEX order_history_account ON order_history (account, hseq);
    CREATE INDEX order_history_time ON order_history (account, update_time, hseq);
    """,
    # issue 15, several processes (broker.md §21): the store is the truth. Every commit takes
    # the next number of broker_clock.commit_seq and stamps it on each account it wrote
    # (accounts.version), so a process finds what others changed since it last looked; the
    # fill evaluator stores the last second it evaluated (and who it is, host:pid), so the
    # next leader resumes there;
    # an order's first evaluable second is stored, so a reloaded order never fills on a
    # price from before it was placed
    """
    ALTER TABLE accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX accounts_version ON accounts (version);
    ALTER TABLE orders ADD COLUMN since INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE broker_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        commit_seq INTEGER NOT NULL,
        evaluated INTEGER,
        evaluator TEXT
    );
    INSERT INTO broker_clock VALUES (1, 0, NULL, NULL);
    """,
    # issue 17, bar replay (docs/replay.md §3): a session's clock lives in the store, so any
    # worker answers for it and it survives a restart; ``version`` guards read-modify-write
    """
    CREATE TABLE replay_sessions (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        symbols TEXT NOT NULL,
        created INTEGER NOT NULL,
        speed INTEGER NOT NULL,
        state TEXT NOT NULL,
        anchor_wall INTEGER NOT NULL,
        anchor_replay INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE INDEX replay_sessions_account ON replay_sessions (account, created);
    """,
    # issue 17, trading in a session and its report (docs/replay.md §5, "The report"): the
    # replay time before which the session's book is not evaluated (its start, or where a
    # jump landed), and the replay time the session started at, where its equity curve
    # begins (the clock's anchor moves with every change; a session stored before this
    # migration starts at its last anchor)
    """
    ALTER TABLE replay_sessions ADD COLUMN trade_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE replay_sessions ADD COLUMN start_time INTEGER NOT NULL DEFAULT 0;
    UPDATE replay_sessions SET trade_from = anchor_replay, start_time = anchor_replay;
    """,
)
