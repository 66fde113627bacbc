-- Running upgrade 0001_init -> 0003_customers

INSERT INTO alembic_version (version_num) VALUES ('0003_customers') RETURNING version_num;

-- Running upgrade 0002_orders, 0003_customers -> 0004_merge

DELETE FROM alembic_version WHERE alembic_version.version_num = '0002_orders';

UPDATE alembic_version SET version_num='0004_merge' WHERE alembic_version.version_num = '0003_customers';

-- Running upgrade 0004_merge -> 0005_status

UPDATE alembic_version SET version_num='0005_status' WHERE alembic_version.version_num = '0004_merge';

