"""SQLAlchemy models; they match the Alembic revisions exactly so `--autogenerate` starts from a clean diff."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import declarative_base

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class Tenant(Base):
    """A customer organisation; every user and artifact belongs to exactly one."""

    __tablename__ = "tenants"
    id = Column(Integer, primary_key=True)
    slug = Column(String(64), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class User(Base):
    """A login of one tenant; usernames are unique per tenant."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)
    id = Column(Integer, primary_key=True)
    tenant_id = Column(Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    username = Column(String(64), nullable=False)
    password_hash = Column(String(255), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Artifact(Base):
    """A named text document owned by a tenant."""

    __tablename__ = "artifacts"
    id = Column(Integer, primary_key=True)
    tenant_id = Column(Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    content = Column(Text, nullable=False, server_default="")
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now())
    tags = Column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]"))  # v1.1.0 (0003c3d4e5f6)
    description = Column(String(500), nullable=True)  # v1.3.0 (0005e5f6a7b8)


class Job(Base):
    """A job the worker finished (ghostworks.jobs): each job id once; a second record of it is rejected."""

    __tablename__ = "jobs"
    id = Column(Integer, primary_key=True)
    job_id = Column(String(128), nullable=False, unique=True)
    kind = Column(String(32), nullable=False)
    color = Column(String(16), nullable=False)
    host = Column(String(64), nullable=False)
    processed_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
