-- The outreach list (issue #17) shows applicants' contacts: each dossier it
-- lists is recorded in the access log as resource 'outreach'.
ALTER TABLE access_log DROP CONSTRAINT access_log_resource_check;
ALTER TABLE access_log ADD CONSTRAINT access_log_resource_check
    CHECK (resource IN ('dossier', 'receipt', 'supplement_request', 'refusal', 'apology',
                        'stop_notice', 'control_slip', 'outreach'));
