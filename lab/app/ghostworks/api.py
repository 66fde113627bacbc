"""The Ghostworks api: health, metrics, login, tenant-scoped artifact CRUD and the job queue's front door
(`python3 -m ghostworks.api`)."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from . import database, faults, jobs, logs, metrics, routing, tokens
from .config import Settings, settings
from .health import api_health
from .models import Artifact, Tenant, User
from .server import Request, Response, error, json_response, log_path, serve

FIELDS = [column.name for column in Artifact.__table__.columns if column.name != "tenant_id"]
# Fields a release's models lack (tags before v1.1.0, description before v1.3.0) are neither shown nor editable.
EDITABLE = [name for name in ("name", "content", "tags", "description") if name in FIELDS]
MAX_ID = 2**31 - 1
MAX_DESCRIPTION = 500
_DUMMY_HASH = tokens.hash_password("not-a-real-password", salt=b"0" * 16)


def artifact_json(artifact: Artifact) -> dict:
    """The public JSON form of an artifact."""
    out = {}
    for name in FIELDS:
        value = getattr(artifact, name)
        out[name] = value.isoformat() if isinstance(value, dt.datetime) else value
    return out


def artifact_input(body: object, partial: bool) -> dict | str:
    """Validated editable fields from a request body, or the error message (unknown fields are ignored)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    values = {name: body[name] for name in EDITABLE if name in body}
    if "name" in values and (not isinstance(values["name"], str) or not 1 <= len(values["name"].strip()) <= 200):
        return "name must be a non-empty string of at most 200 characters"
    if "content" in values and not isinstance(values["content"], str):
        return "content must be a string"
    if "tags" in values:
        tags = values["tags"]
        if (
            not isinstance(tags, list)
            or len(tags) > 20
            or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags)
        ):
            return "tags must be a list of at most 20 strings of 1 to 64 characters"
    if "description" in values:
        description = values["description"]
        if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
            return f"description must be null or a string of at most {MAX_DESCRIPTION} characters"
    if not partial and "name" not in values:
        return "name is required"
    if partial and not values:
        return f"nothing to update; editable fields: {', '.join(EDITABLE)}"
    if "name" in values:
        values["name"] = values["name"].strip()
    return values


def authorised(handler):
    """Decorate an artifact handler: resolve the bearer token to a tenant id (401 without) and parse the id."""

    def wrapper(self: Api, req: Request, *ids: str) -> Response:
        tenant_id = self.tenant_of(req)
        if tenant_id is None:
            body = b'{"error": "missing or invalid bearer token"}\n'
            return Response(401, body, headers={"WWW-Authenticate": "Bearer"})
        if ids and not (ids[0].isascii() and ids[0].isdigit() and int(ids[0]) <= MAX_ID):
            return error(404, "artifact not found")
        return handler(self, req, tenant_id, *map(int, ids))

    wrapper.__doc__ = handler.__doc__
    return wrapper


class Api:
    """The api as a callable from Request to Response (see ghostworks.server)."""

    def __init__(self, cfg: Settings, log: logging.Logger, fault: str | None = faults.FAULT):
        self.cfg = cfg
        self.log = log
        self.fault = fault
        self.started = time.monotonic()
        self.seq = itertools.count()
        self.leaked: list[bytes] = []  # the "leak" fault's never-freed memory
        self.checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")

    def __call__(self, req: Request) -> Response:
        """Route one request: /metrics untouched, everything else through the fault switch and the metrics."""
        start = time.perf_counter()
        name, ids, known = routing.resolve(req.method, req.path)
        if name == "metrics":
            body, content_type = metrics.render()
            return Response(200, body, content_type)
        delay, fail = faults.plan(self.fault, next(self.seq), time.monotonic() - self.started)
        faults.leak(self.fault, self.leaked)
        if delay:
            time.sleep(delay)
        try:
            if fail:
                self.log.error(
                    "injected fault",
                    extra={"fault": self.fault, "path": log_path(req.path), "request_id": req.request_id},
                )
                response = error(500, "internal server error")
            elif name is None:
                response = error(405, "method not allowed") if known else error(404, "not found")
            else:
                response = getattr(self, name)(req, *ids)
        except Exception:
            self.log.exception(
                "unhandled error",
                extra={"method": req.method, "path": log_path(req.path), "request_id": req.request_id},
            )
            response = error(500, "internal server error")
        seconds = time.perf_counter() - start
        method, path = routing.metric_method(req.method), routing.metric_path(req.path)
        metrics.observe(method, path, response.status, seconds, self.cfg.version)
        return response

    # --- health -----------------------------------------------------------------------------------

    def health(self, req: Request) -> Response:
        """PostgreSQL and Redis checked in parallel (2 s connect timeouts)."""
        db = self.checks.submit(database.check_database)
        cache = self.checks.submit(database.check_redis)
        status, body = api_health(
            self.cfg.version, self.cfg.color, {"database": db.result(), "redis": cache.result()}, self.fault
        )
        return json_response(status, body)

    # --- auth -------------------------------------------------------------------------------------

    def _tokens(self, subject: dict) -> dict:
        key, alg = self.cfg.jwt_secret_key, self.cfg.jwt_algorithm
        access_s = self.cfg.jwt_access_token_expire_minutes * 60
        return {
            "access_token": tokens.issue(subject, key, alg, "access", access_s),
            "refresh_token": tokens.issue(subject, key, alg, "refresh", self.cfg.jwt_refresh_token_expire_days * 86400),
            "token_type": "bearer",
            "expires_in": access_s,
        }

    def login(self, req: Request) -> Response:
        """`{"tenant", "username", "password"}` -> access and refresh tokens; 401 on bad credentials."""
        try:
            body = req.json()
        except ValueError:
            return error(400, "body must be JSON")
        fields = ("tenant", "username", "password")
        if not isinstance(body, dict) or not all(isinstance(body.get(f), str) for f in fields):
            return error(422, "tenant, username and password are required strings")
        with database.session() as s:
            row = s.execute(
                select(User, Tenant)
                .join(Tenant, User.tenant_id == Tenant.id)
                .where(Tenant.slug == body["tenant"], User.username == body["username"])
            ).first()
        if row is None:
            tokens.check_password(body["password"], _DUMMY_HASH)  # same cost as a real check
            return error(401, "invalid credentials")
        user, tenant = row
        if not tokens.check_password(body["password"], user.password_hash):
            return error(401, "invalid credentials")
        subject = {"sub": str(user.id), "username": user.username, "tid": tenant.id, "tenant": tenant.slug}
        self.log.info("login", extra={"tenant": tenant.slug, "username": user.username})
        return json_response(200, self._tokens(subject))

    def refresh(self, req: Request) -> Response:
        """`{"refresh_token"}` -> a fresh token pair."""
        try:
            token = req.json()["refresh_token"]
            claims = tokens.verify(token, self.cfg.jwt_secret_key, self.cfg.jwt_algorithm, "refresh")
            subject = {k: claims[k] for k in ("sub", "username", "tid", "tenant")}
        except (ValueError, TypeError, KeyError, AttributeError):
            return error(401, "invalid refresh token")
        return json_response(200, self._tokens(subject))

    def tenant_of(self, req: Request) -> int | None:
        """The tenant id of a valid access token in the Authorization header, else None."""
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            return int(tokens.verify(token.strip(), self.cfg.jwt_secret_key, self.cfg.jwt_algorithm, "access")["tid"])
        except (ValueError, KeyError, TypeError):
            return None

    # --- artifacts (every query is scoped to the caller's tenant) ---------------------------------

    @staticmethod
    def _body(req: Request, partial: bool) -> dict | Response:
        try:
            values = artifact_input(req.json(), partial)
        except ValueError:
            return error(400, "body must be JSON")
        return error(422, values) if isinstance(values, str) else values

    @authorised
    def list_artifacts(self, req: Request, tenant_id: int) -> Response:
        """All artifacts of the caller's tenant, oldest first."""
        with database.session() as s:
            rows = s.scalars(select(Artifact).where(Artifact.tenant_id == tenant_id).order_by(Artifact.id)).all()
        return json_response(200, {"items": [artifact_json(a) for a in rows], "count": len(rows)})

    @authorised
    def create_artifact(self, req: Request, tenant_id: int) -> Response:
        """Create from `{"name", "content"[, "tags"][, "description"]}`; 201 with the artifact."""
        values = self._body(req, partial=False)
        if isinstance(values, Response):
            return values
        with database.session() as s:
            artifact = Artifact(tenant_id=tenant_id, **values)
            s.add(artifact)
            s.commit()
            s.refresh(artifact)
        response = json_response(201, artifact_json(artifact))
        response.headers["Location"] = f"/api/v1/artifacts/{artifact.id}"
        return response

    def _find(self, s, tenant_id: int, artifact_id: int) -> Artifact | None:
        query = select(Artifact).where(Artifact.id == artifact_id, Artifact.tenant_id == tenant_id)
        return s.scalars(query).first()

    @authorised
    def get_artifact(self, req: Request, tenant_id: int, artifact_id: int) -> Response:
        """One artifact; another tenant's artifact is 404."""
        with database.session() as s:
            artifact = self._find(s, tenant_id, artifact_id)
        return json_response(200, artifact_json(artifact)) if artifact else error(404, "artifact not found")

    @authorised
    def update_artifact(self, req: Request, tenant_id: int, artifact_id: int) -> Response:
        """Change any of the editable fields."""
        values = self._body(req, partial=True)
        if isinstance(values, Response):
            return values
        with database.session() as s:
            artifact = self._find(s, tenant_id, artifact_id)
            if artifact is None:
                return error(404, "artifact not found")
            for name, value in values.items():
                setattr(artifact, name, value)
            s.commit()
            s.refresh(artifact)
        return json_response(200, artifact_json(artifact))

    @authorised
    def delete_artifact(self, req: Request, tenant_id: int, artifact_id: int) -> Response:
        """Delete; 204."""
        with database.session() as s:
            artifact = self._find(s, tenant_id, artifact_id)
            if artifact is None:
                return error(404, "artifact not found")
            s.delete(artifact)
            s.commit()
        return Response(204, b"")

    # --- jobs -------------------------------------------------------------------------------------

    def enqueue_job(self, req: Request) -> Response:
        """Queue `{"id"[, "seconds"]}` for the worker (ghostworks.jobs); 202. The id is the caller's: the worker
        records each id once."""
        try:
            job = jobs.job_input(req.json())
        except ValueError:
            return error(400, "body must be JSON")
        if isinstance(job, str):
            return error(422, job)
        database.get_redis().lpush(jobs.QUEUE, jobs.encode(job))
        return json_response(202, {"id": job["id"], "queued": True})


def main() -> None:
    """Run the api on BIND_ADDR:API_PORT."""
    log = logs.setup("api", settings.version, settings.color, settings.log_level)
    missing = settings.missing_for_api()
    if missing:
        log.error("missing required environment variables", extra={"missing": missing})
        sys.exit(2)
    metrics.prepare()
    extra = {"environment": settings.environment, "debug": settings.debug, "fault": faults.FAULT}
    log.info("starting", extra={**extra, "otel_endpoint": settings.opentelemetry_endpoint or None})
    serve(Api(settings, log), settings.bind_addr, settings.api_port, log)


if __name__ == "__main__":
    main()
