-- A push to Xero claims the drafts it sends before calling Xero, so two
-- pushes never send the same invoice; a claim left by a push that died is
-- taken over after two minutes (the retry first asks Xero what it already
-- has). Regeneration leaves claimed drafts alone.
ALTER TABLE invoices ADD COLUMN push_claimed_at TEXT;
