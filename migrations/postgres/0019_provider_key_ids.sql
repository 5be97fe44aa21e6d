-- The provider's own id of a managed key keyward minted (when its adapter
-- reports one), so that rotating the key can revoke the old one there.
ALTER TABLE provider_secrets ADD COLUMN provider_key_id TEXT;
