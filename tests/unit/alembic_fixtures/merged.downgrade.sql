-- Running downgrade 0005_status -> 0004_merge

UPDATE alembic_version SET version_num='0004_merge' WHERE alembic_version.version_num = '0005_status';

-- Running downgrade 0004_merge -> 0002_orders, 0003_customers

INSERT INTO alembic_version (version_num) VALUES ('0003_customers') RETURNING version_num;

UPDATE alembic_version SET version_num='0002_orders' WHERE alembic_version.version_num = '0004_merge';

-- Running downgrade 0002_orders -> 0001_init

DELETE FROM alembic_version WHERE alembic_version.version_num = '0002_orders';

-- Running downgrade 0003_customers -> 0001_init

UPDATE alembic_version SET version_num='0001_init' WHERE alembic_version.version_num = '0003_customers';

