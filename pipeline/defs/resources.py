"""Dagster resources: the calls API (real Sinch or the embedded sandbox) and the warehouse.

Both API resources expose the same ``open_client(project)`` context manager, so the assets do
not know which one they talk to; ``project`` is a :class:`~pipeline.projects.Project` of the
projects file, or None for the resource's own single project.
:func:`pipeline.defs.environment.calls_api_resource` picks one from the environment; secrets
are bound with ``dg.EnvVar`` there and never appear in the UI or logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

from pipeline.projects import Project, sandbox_seed
from pipeline.settings import (
    DEFAULT_API_URL,
    DEFAULT_AUTH_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_DB_MEMORY_LIMIT,
    SettingsError,
)
from pipeline.sinch.auth import BasicAuth, OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient, RetryPolicy
from pipeline.warehouse.backend import Warehouse, open_warehouse


class CallsApiResource(dg.ConfigurableResource):
    """Base of the API resources: how many windows to fetch at once, and the page size."""

    concurrency: int = Field(
        default=DEFAULT_CONCURRENCY, ge=1, le=32, description="windows fetched at the same time"
    )
    page_size: int = Field(default=1000, ge=1, le=1000, description="calls per page (max 1000)")
    max_result_window: int = Field(
        default=10_000,
        ge=1,
        description="deepest offset (page x size) the API serves; denser windows are split",
    )
    export: bool = Field(
        default=True,
        description="fetch /calls/export into raw.call_details (CALLS_EXPORT); off: the "
        "details asset records its hours 'unavailable' without a request",
    )

    @contextmanager
    def open_client(self, project: Project | None = None) -> Iterator[CallsClient]:
        """Yield a ready :class:`CallsClient`; closed (and any sandbox stopped) on exit.

        Args:
            project: a project of the projects file, or None for the resource's own project.
        """
        raise NotImplementedError
        yield  # pragma: no cover

    def default_project_id(self) -> str:
        """The project ingested when no projects file is set."""
        raise NotImplementedError

    def client_for(
        self, api_url: str, project_id: str, auth: httpx.Auth, **options: Any
    ) -> CallsClient:
        """A client with this resource's paging settings (``options``: more client options)."""
        return CallsClient(
            api_url,
            project_id,
            auth,
            page_size=self.page_size,
            max_result_window=self.max_result_window,
            **options,
        )


class SinchCallsResource(CallsApiResource):
    """The real Sinch Elastic SIP Trunk API (or anything that speaks it, e.g. a sandbox URL).

    ``key_secret`` must come from ``dg.EnvVar("SINCH_KEY_SECRET")``. With a projects file
    the three are unset and each project's key is read from the variables the file names.
    """

    project_id: str | None = Field(default=None, description="Sinch project id")
    key_id: str | None = Field(default=None, description="access key id")
    key_secret: str | None = Field(
        default=None,
        description="access key secret (bind with dg.EnvVar)",
        repr=False,  # never in repr(), logs or error messages
    )
    auth: str = Field(default="oauth", pattern="^(oauth|basic)$", description="oauth or basic")
    api_url: str = Field(default=DEFAULT_API_URL, description="API base URL")
    auth_url: str = Field(default=DEFAULT_AUTH_URL, description="OAuth2 token server base URL")
    rate_limit_per_s: float | None = Field(
        default=None, gt=0, description="client-side request rate limit (requests/s)"
    )
    rate_limit_store: str | None = Field(
        default=None,
        description="store shared by all workers for each project's rate limit, e.g. "
        "redis://host:6379/1 (bind with dg.EnvVar: it may hold a password); None: per process",
        repr=False,
    )
    request_deadline_s: float = Field(
        default=120.0, gt=0, description="overall deadline of one HTTP request, retries excluded"
    )
    max_attempts: int = Field(
        default=5, ge=1, le=50, description="HTTP attempts per request, the first included"
    )
    backoff_base_s: float = Field(
        default=0.5, ge=0, description="first retry backoff ceiling (full jitter), seconds"
    )
    backoff_max_s: float = Field(
        default=30.0, ge=0, description="largest retry backoff ceiling, seconds"
    )

    def retry_policy(self) -> RetryPolicy:
        """The :class:`RetryPolicy` these settings describe."""
        return RetryPolicy(self.max_attempts, self.backoff_base_s, self.backoff_max_s)

    def default_project_id(self) -> str:
        """``project_id`` (``SINCH_PROJECT_ID``).

        Raises:
            SettingsError: it is unset (the resource serves a projects file).
        """
        if not self.project_id:
            msg = "no SINCH_PROJECT_ID: this deployment ingests the projects of its file"
            raise SettingsError(msg)
        return self.project_id

    def build_client(self, project: Project | None = None) -> CallsClient:
        """A new client for the configured API (the caller closes it).

        Args:
            project: a project of the projects file (its id, key and rate limit), or None
                for ``project_id``, ``key_id`` and ``key_secret``.

        Raises:
            SettingsError: a key variable the project names is unset, (without a project)
                the resource has no credentials, or ``rate_limit_store`` is not a usable URI.
        """
        if project is not None:
            project_id = project.id
            key_id, key_secret = project.credentials()
            rate = project.rate_limit_per_s or self.rate_limit_per_s
        elif self.key_id and self.key_secret:
            project_id, key_id, key_secret = self.default_project_id(), self.key_id, self.key_secret
            rate = self.rate_limit_per_s
        else:
            msg = "no Sinch credentials: set SINCH_KEY_ID and SINCH_KEY_SECRET"
            raise SettingsError(msg)
        auth = (
            OAuth2ClientCredentials(key_id, key_secret, auth_url=self.auth_url)
            if self.auth == "oauth"
            else BasicAuth(key_id, key_secret)
        )
        shared = None
        if self.rate_limit_store and rate:
            from pipeline.sinch.shared_limit import SharedRateLimiter

            try:
                shared = SharedRateLimiter(self.rate_limit_store, project_id, rate)
            except ValueError as exc:
                raise SettingsError(f"SINCH_RATE_LIMIT_STORE: {exc}") from None
        return self.client_for(
            self.api_url,
            project_id,
            auth,
            rate_limiter=shared,
            rate_limit_per_s=rate,
            request_deadline_s=self.request_deadline_s,
            retry=self.retry_policy(),
        )

    @contextmanager
    def open_client(self, project: Project | None = None) -> Iterator[CallsClient]:
        """Yield a client for the configured API (or ``project``'s key); closed on exit."""
        with self.build_client(project) as client:
            yield client


class SandboxCallsResource(CallsApiResource):
    """The embedded sandbox: starts the emulator on 127.0.0.1 for the run, then stops it.

    The default when no Sinch credentials are set, so ``dagster dev`` and ``pipeline demo``
    work offline. Traffic is deterministic for a seed.
    """

    seed: int = Field(default=7, description="seed of the generated traffic")

    def default_project_id(self) -> str:
        """The sandbox's project id."""
        from pipeline.sandbox.settings import DEFAULT_PROJECT_ID

        return DEFAULT_PROJECT_ID

    @contextmanager
    def open_client(self, project: Project | None = None) -> Iterator[CallsClient]:
        """Start the sandbox, yield a client authenticated with its OAuth2 credentials.

        Args:
            project: serve this project id, with traffic seeded by ``seed`` and the id
                (:func:`~pipeline.projects.sandbox_seed`); None: the default project, ``seed``.
        """
        from pipeline.sandbox.server import run_sandbox
        from pipeline.sandbox.settings import SandboxSettings

        settings = (
            SandboxSettings(seed=self.seed)
            if project is None
            else SandboxSettings(seed=sandbox_seed(self.seed, project.id), project_id=project.id)
        )
        with run_sandbox(settings) as sandbox:
            auth = OAuth2ClientCredentials(
                sandbox.key_id, sandbox.key_secret, auth_url=sandbox.auth_url
            )
            with self.client_for(sandbox.base_url, sandbox.project_id, auth) as client:
                yield client


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: the DuckDB file, or Delta tables under ``lake_uri`` when it is set.

    See :mod:`pipeline.warehouse.backend`.
    """

    path: str = Field(description="path of the DuckDB file")
    report_tz: str = Field(default="UTC", description="IANA zone of daily tables and busy hour")
    memory_limit: str | None = Field(
        default=DEFAULT_DB_MEMORY_LIMIT,
        description="DuckDB memory limit of the ingestion's writer, e.g. 512MB; None: DuckDB's",
    )
    lake_uri: str | None = Field(
        default=None,
        description="Delta Lake root (directory or s3://bucket/prefix); None: the DuckDB file",
    )

    def backend(self) -> Warehouse:
        """The :class:`~pipeline.warehouse.backend.Warehouse` these settings describe."""
        return open_warehouse(self.path, self.lake_uri, memory_limit=self.memory_limit)
