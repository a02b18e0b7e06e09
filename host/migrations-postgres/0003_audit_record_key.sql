-- The agent's key for each audited record, so the audit can be read per
-- record by the key the agent knows as well as by the CRM id.
ALTER TABLE write_audit ADD COLUMN record_key TEXT;
CREATE INDEX write_audit_record ON write_audit (customer, record_key);
CREATE INDEX write_audit_crm_id ON write_audit (customer, crm_id);
