-- Settings hold the persisted analytics model (a JSON snapshot with its
-- segment totals), which may pass TEXT's 64 KiB.
ALTER TABLE app_settings MODIFY setting_value MEDIUMTEXT NOT NULL;
