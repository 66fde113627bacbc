"""Settings read from the environment (compose passes `.env` plus APP_VERSION, COLOR and the ports)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the api and web processes need; the field names follow the runbook's variables."""

    version: str = "dev"
    color: str = "none"
    bind_addr: str = "127.0.0.1"
    api_port: int = 8000
    web_port: int = 3000
    database_url: str = ""
    redis_url: str = ""
    jwt_secret_key: str = ""
    jwt_algorithm: str = "HS256"
    jwt_access_token_expire_minutes: int = 15
    jwt_refresh_token_expire_days: int = 7
    environment: str = "development"
    log_level: str = "INFO"
    debug: bool = False
    opentelemetry_endpoint: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from `env`; unset variables keep their defaults."""
        get = env.get
        return cls(
            version=get("APP_VERSION") or "dev",
            color=get("COLOR") or "none",
            bind_addr=get("BIND_ADDR") or "127.0.0.1",
            api_port=int(get("API_PORT") or 8000),
            web_port=int(get("WEB_PORT") or 3000),
            database_url=get("DATABASE_URL", ""),
            redis_url=get("REDIS_URL", ""),
            jwt_secret_key=get("JWT_SECRET_KEY", ""),
            jwt_algorithm=get("JWT_ALGORITHM") or "HS256",
            jwt_access_token_expire_minutes=int(get("JWT_ACCESS_TOKEN_EXPIRE_MINUTES") or 15),
            jwt_refresh_token_expire_days=int(get("JWT_REFRESH_TOKEN_EXPIRE_DAYS") or 7),
            environment=get("ENVIRONMENT") or "development",
            log_level=(get("LOG_LEVEL") or "INFO").upper(),
            debug=_flag(get("DEBUG", "false")),
            opentelemetry_endpoint=get("OPENTELEMETRY_ENDPOINT", ""),
        )

    def missing_for_api(self) -> list[str]:
        """Names of the variables the api cannot run without."""
        required = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "JWT_SECRET_KEY": self.jwt_secret_key,
        }
        return [name for name, value in required.items() if not value]


settings = Settings.from_env()
