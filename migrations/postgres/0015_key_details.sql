-- A key's name and the platform's labels (JSON object of strings), editable
-- with PATCH /api/keys/{id}. A revoked key keeps status 'revoked'.
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
