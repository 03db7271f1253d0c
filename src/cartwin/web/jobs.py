"""A bounded queue of background jobs, one worker at a time, each in its own directory.

A job is a directory ``jobs_dir/<32 hex digits>`` holding what it was asked (``request.json``),
the uploaded protocol under a fixed name, its progress and its outputs. Names inside it are
chosen by the server, never taken from a request, so nothing is written elsewhere. One worker
thread takes jobs in order; by default it runs each in a child process (``worker="process"``),
so a cancelled job is stopped at once and a crash cannot take the server with it;
``worker="thread"`` runs it in the worker thread and stops it at its next progress report.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import re
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
STATES = ("queued", "running", "done", "failed", "cancelled")


class QueueFull(Exception):
    """More jobs waiting or running than ``max_queued_jobs``."""


class Cancelled(Exception):
    """Raised from a job's progress callback when the job was cancelled (thread worker)."""


@dataclass
class Job:
    id: str
    kind: str
    directory: Path
    total: int = 0
    done: int = 0
    state: str = "queued"
    message: str = ""
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    process: Any = None

    def status(self) -> dict[str, Any]:
        return {"job_id": self.id, "kind": self.kind, "state": self.state, "done": self.done, "total": self.total,
                "fraction": (min(self.done / self.total, 1.0) if self.total else (1.0 if self.state == "done" else 0.0)),
                "message": self.message, "error": self.error, "created": self.created, "started": self.started,
                "finished": self.finished}


def _write_progress(directory: Path, done: int, total: int, message: str) -> None:
    tmp = directory / "progress.json.tmp"
    tmp.write_text(json.dumps({"done": done, "total": total, "message": message}))
    tmp.replace(directory / "progress.json")


def _child(task: Callable, directory: str, args: dict) -> None:  # pragma: no cover - runs in the child
    """Entry point of the child process: run the task, record a user error or 'internal error'."""
    path = Path(directory)
    try:
        task(path, args, lambda done, total, message="": _write_progress(path, done, total, message))
        (path / "outcome.json").write_text(json.dumps({"state": "done"}))
    except Exception as exc:  # noqa: BLE001 - reported as the job's error, never as a trace
        (path / "outcome.json").write_text(json.dumps({"state": "failed", "error": user_message(exc)}))
        (path / "trace.log").write_text(traceback.format_exc())


def user_message(exc: BaseException) -> str:
    """A cartwin error's own message; anything else is 'internal error' (the trace stays in the log)."""
    from cartwin.foundation.errors import CartwinError

    if isinstance(exc, CartwinError):
        return str(exc)
    return "internal error (see the server log)"


class JobManager:
    """Submit, watch and cancel jobs; at most ``max_queued`` queued or running."""

    def __init__(self, jobs_dir: Path, *, max_queued: int = 4, max_kept: int = 50, worker: str = "process"):
        self.root = Path(jobs_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_queued = max_queued
        self.max_kept = max_kept
        self.worker = worker
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- submission -----------------------------------------------------------------
    def new_directory(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        directory = self.root / job_id
        directory.mkdir(parents=True)
        return job_id, directory

    def discard(self, directory: Path) -> None:
        if directory.parent == self.root and JOB_ID.match(directory.name):
            shutil.rmtree(directory, ignore_errors=True)

    def submit(self, job_id: str, directory: Path, kind: str, task: Callable, args: dict, total: int) -> Job:
        with self._lock:
            active = sum(j.state in ("queued", "running") for j in self.jobs.values())
            if active >= self.max_queued:
                raise QueueFull(f"{active} jobs are queued or running (the limit is {self.max_queued}); try again later")
            job = Job(job_id, kind, directory, total=total)
            self.jobs[job_id] = job
            self._prune()
        (directory / "request.json").write_text(json.dumps(args, indent=2, default=str))
        self._queue.put((job, task, args))
        self._ensure_worker()
        return job

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID.match(job_id or ""):
            return None
        return self.jobs.get(job_id)

    def cancel(self, job: Job) -> Job:
        with self._lock:
            if job.state == "queued":
                job.state, job.finished = "cancelled", time.time()
            elif job.state == "running":
                job.cancel_requested = True
                if job.process is not None:
                    job.process.terminate()
        return job

    def _prune(self) -> None:
        finished = sorted((j for j in self.jobs.values() if j.state in ("done", "failed", "cancelled")),
                          key=lambda j: j.created)
        for job in finished[: max(0, len(finished) - self.max_kept)]:
            self.jobs.pop(job.id, None)
            self.discard(job.directory)

    # ---- the worker -----------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="cartwin-web-worker", daemon=True)
            self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        for job in list(self.jobs.values()):
            if job.state in ("queued", "running"):
                self.cancel(job)
        self._queue.put(None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            job, task, args = item
            if job.state != "queued":
                continue
            job.state, job.started = "running", time.time()
            try:
                if self.worker == "process":
                    self._run_process(job, task, args)
                else:
                    self._run_thread(job, task, args)
            except Exception as exc:  # noqa: BLE001 - a job's failure is its status
                job.state, job.error = "failed", user_message(exc)
                (job.directory / "trace.log").write_text(traceback.format_exc())
            job.finished = time.time()

    def _run_thread(self, job: Job, task: Callable, args: dict) -> None:
        def progress(done: int, total: int, message: str = "") -> None:
            if job.cancel_requested:
                raise Cancelled()
            job.done, job.total, job.message = done, total, message

        try:
            task(job.directory, args, progress)
        except Cancelled:
            job.state = "cancelled"
            return
        job.state = "cancelled" if job.cancel_requested else "done"
        if job.state == "done":
            job.done = job.total

    def _run_process(self, job: Job, task: Callable, args: dict) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a threaded server
        proc = ctx.Process(target=_child, args=(task, str(job.directory), args), daemon=True)
        with self._lock:
            if job.cancel_requested:
                job.state = "cancelled"
                return
            job.process = proc
            proc.start()
        progress_file = job.directory / "progress.json"
        while proc.is_alive():
            proc.join(0.2)
            self._read_progress(job, progress_file)
        self._read_progress(job, progress_file)
        job.process = None
        outcome_file = job.directory / "outcome.json"
        if job.cancel_requested:
            job.state = "cancelled"
        elif outcome_file.exists():
            outcome = json.loads(outcome_file.read_text())
            job.state, job.error = outcome["state"], outcome.get("error")
            if job.state == "done":
                job.done = job.total
        else:
            job.state, job.error = "failed", f"the job's process stopped (exit code {proc.exitcode})"

    @staticmethod
    def _read_progress(job: Job, path: Path) -> None:
        try:
            p = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        job.done, job.total, job.message = int(p["done"]), int(p["total"]), str(p.get("message", ""))
