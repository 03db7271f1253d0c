"""Every limit of the web front-end in one settings object (environment variables ``CARTWIN_WEB_*``).

A server that runs simulations for whoever reaches it must bound what one request can ask for:
the number of patients, the follow-up, the upload size and the number of waiting jobs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """Limits and places of ``cartwin serve``; each field can be set as ``CARTWIN_WEB_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CARTWIN_WEB_", extra="ignore")

    host: str = Field("127.0.0.1", description="address to bind (localhost by default)")
    port: int = Field(8000, ge=1, le=65535, description="port to bind")
    max_patients: int = Field(1000, ge=1, le=100_000, description="largest n of one trial job")
    max_follow_up_days: float = Field(730.0, ge=28.0, le=3650.0, description="longest follow-up of a trial job")
    max_simulate_days: float = Field(730.0, ge=1.0, le=3650.0, description="longest follow-up of one simulated patient")
    max_upload_bytes: int = Field(2_000_000, ge=1_000, le=100_000_000, description="largest upload (observation CSV, protocol file)")
    max_queued_jobs: int = Field(4, ge=1, le=1000, description="jobs waiting or running at once; more are refused (429)")
    max_kept_jobs: int = Field(50, ge=1, le=10_000, description="finished jobs kept on disk (oldest removed first)")
    worker: Literal["process", "thread"] = Field("process", description="run each job in a child process (default) or a thread")
    dask_scheduler: str | None = Field(None, description="run trial shards with Dask: a scheduler address, 'local' (a local cluster) or 'threads'")
    jobs_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "cartwin-web-jobs",
                           description="directory holding one sub-directory per job")
    registry_db: Path | None = Field(None, description="registry database (default: cartwin registry's default)")
    explainer_patients: int = Field(60, ge=10, le=500, description="virtual patients behind the journey explainer")
    engine: str = Field("auto", description="engine for trial jobs and the explainer (as `cartwin trial --engine`)")
