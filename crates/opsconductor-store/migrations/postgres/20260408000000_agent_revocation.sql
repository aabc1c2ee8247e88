-- An admin can revoke an agent: its identity stops working at once (authentication and
-- heartbeats check this), and the row stays so results keep their history.
ALTER TABLE agents ADD COLUMN revoked_at timestamptz;
