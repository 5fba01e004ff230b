-- Neo's tenant settings (design §9): one JSON document per tenant (PublicSettings); absent = all null.
CREATE TABLE tenant_settings (
    tenant_id  INTEGER PRIMARY KEY REFERENCES tenants(id),
    document   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
