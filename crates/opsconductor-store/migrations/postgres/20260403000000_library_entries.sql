-- Library entries users add through the API (commands, parsers, target sources). They are
-- compiled together with the shipped files, with the same validation, by every controller
-- replica; a shipped id cannot be redefined here.
CREATE TABLE library_entries (
    kind       text NOT NULL CHECK (kind IN ('commands', 'parsers', 'target_sources')),
    id         text NOT NULL,
    document   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
