"""The REST API under ``/api/v1/``: one route per library call, request bodies from the constraint tables."""


import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from cartwin.foundation.errors import ValidationError
from cartwin.web import services
from cartwin.web.explainer import explain
from cartwin.web.jobs import JOB_ID
from cartwin.web.schemas import COURSES, PRODUCT_CLASSES
from cartwin.web.trials import DOWNLOADS, build_protocol, job_size, run_trial_job

JobId = Annotated[str, Path(pattern=JOB_ID.pattern, description="job id (32 hex digits)")]
NctId = Annotated[str, Path(pattern=services.NCT_ID, description="NCT ID, e.g. NCT02348216")]


def build_router(app_state) -> APIRouter:
    settings, models, jobs = app_state.settings, app_state.models, app_state.jobs
    Simulate, TrialJob = models["simulate"], models["trial"]
    scales = tuple(models["scale"].options)
    router = APIRouter(prefix="/api/v1")

    @router.get("/presets", summary="Products, indications, protocol presets, policies and grading scales")
    def get_presets() -> dict[str, Any]:
        return services.presets()

    @router.get("/parameters", summary="The constraint tables: model parameters, protocol fields, observation columns")
    def get_parameters() -> dict[str, Any]:
        return services.parameters(models)

    @router.post("/simulate", summary="One patient's course (as `cartwin simulate`)")
    def post_simulate(body: Simulate) -> dict[str, Any]:  # type: ignore[valid-type]
        return services.simulate(body)

    @router.get("/journey", summary="The patient-journey explainer's steps and figures")
    def get_journey(product: Literal[tuple(PRODUCT_CLASSES)] = "autologous_car_t",  # type: ignore[valid-type]
                    disease: Annotated[str, Query(max_length=20)] = "lbcl",
                    course: Literal[COURSES] = "typical") -> dict[str, Any]:  # type: ignore[valid-type]
        return explain(product, disease, course, settings.explainer_patients, settings.engine)

    @router.post("/trials/jobs", status_code=202, summary="Submit a virtual trial (a background job)")
    def submit_trial(body: TrialJob) -> dict[str, Any]:  # type: ignore[valid-type]
        request = body.model_dump()
        job_id, directory = jobs.new_directory()
        try:
            protocol = build_protocol(directory, request)
            n, follow = job_size(protocol, request, settings)
            args = {"request": request, "n": n, "follow_up_days": follow, "engine": settings.engine,
                    "dask_scheduler": settings.dask_scheduler}
            job = jobs.submit(job_id, directory, "trial", run_trial_job, args, total=n)
        except BaseException:
            jobs.discard(directory)
            raise
        return {**job.status(), "protocol": protocol.name, "n": n, "follow_up_days": follow,
                "status_url": f"/api/v1/trials/jobs/{job_id}", "result_url": f"/api/v1/trials/jobs/{job_id}/result"}

    def _job(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, detail=f"job_id: no job {job_id} on this server")
        return job

    @router.get("/trials/jobs/{job_id}", summary="A job's state and progress")
    def job_status(job_id: JobId) -> dict[str, Any]:
        return _job(job_id).status()

    @router.get("/trials/jobs/{job_id}/result", summary="A finished job's endpoints, comparison and figures")
    def job_result(job_id: JobId) -> Response:
        job = _job(job_id)
        if job.state != "done":
            raise HTTPException(409, detail=f"job_id: job {job_id} is {job.state}, not done"
                                + (f" ({job.error})" if job.error else ""))
        return Response((job.directory / "out" / "result.json").read_bytes(), media_type="application/json")

    @router.get("/trials/jobs/{job_id}/files/{name}", summary="Download a finished job's file")
    def job_file(job_id: JobId, name: Literal[tuple(DOWNLOADS)]) -> FileResponse:  # type: ignore[valid-type]
        job = _job(job_id)
        if job.state != "done":
            raise HTTPException(409, detail=f"job_id: job {job_id} is {job.state}, not done")
        return FileResponse(job.directory / "out" / name, media_type=DOWNLOADS[name], filename=name)

    @router.delete("/trials/jobs/{job_id}", summary="Cancel a queued or running job")
    def cancel_job(job_id: JobId) -> dict[str, Any]:
        return jobs.cancel(_job(job_id)).status()

    @router.post("/trials/jobs/{job_id}/cancel", summary="Cancel a queued or running job (same as DELETE)")
    def cancel_job_post(job_id: JobId) -> dict[str, Any]:
        return jobs.cancel(_job(job_id)).status()

    @router.post("/grade", summary="Grade a bedside observation CSV (as `cartwin grade`)")
    async def post_grade(request: Request, file: Annotated[UploadFile, File(description="observation CSV (docs/grading.md)")],
                         scale: Annotated[Literal[scales], Form()] = "astct",  # type: ignore[valid-type]
                         skip_bad: Annotated[bool, Form()] = False,
                         format: Annotated[Literal["json", "csv"], Form()] = "json") -> Response:
        shown = services.safe_name(file.filename)
        if not shown.lower().endswith((".csv", ".txt")):
            raise ValidationError("file", "a .csv file (docs/grading.md)", shown)
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ValidationError("file", f"at most {settings.max_upload_bytes} bytes", f"{shown} (larger)")
        job_id, directory = jobs.new_directory()
        try:
            path = directory / "observations.csv"  # the server's name, never the uploader's
            path.write_bytes(data)
            from starlette.concurrency import run_in_threadpool

            result = await run_in_threadpool(services.grade, path, shown, scale, skip_bad)
        finally:
            jobs.discard(directory)
        if format == "csv":
            import pandas as pd

            buf = io.StringIO()
            pd.DataFrame(result["daily"]).to_csv(buf, index=False)
            return Response(buf.getvalue(), media_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="grades.csv"'})
        return Response(json.dumps(result), media_type="application/json")

    @router.get("/registry/search", summary="Search the registry (as `cartwin registry search`)")
    def registry_search(condition: Annotated[str | None, Query(max_length=200)] = None,
                        phase: Annotated[str | None, Query(max_length=20)] = None,
                        status: Annotated[str | None, Query(max_length=40)] = None,
                        sponsor: Annotated[str | None, Query(max_length=200)] = None,
                        target: Annotated[str | None, Query(max_length=40)] = None,
                        country: Annotated[str | None, Query(max_length=100)] = None,
                        cell_therapy: Annotated[str | None, Query(max_length=20)] = None,
                        source: Annotated[str | None, Query(max_length=20)] = None,
                        since_year: Annotated[int | None, Query(ge=1900, le=2100)] = None) -> dict[str, Any]:
        return services.registry_search(settings, condition=condition, phase=phase, status=status, sponsor=sponsor,
                                        target=target, country=country, cell_therapy=cell_therapy,
                                        cell_source=source, year_from=since_year)

    @router.get("/registry/stats", summary="Counts of the landscape (as `cartwin registry stats`)")
    def registry_stats() -> dict[str, Any]:
        return services.registry_stats(settings)

    @router.get("/registry/studies/{nct_id}", summary="One study, its drafted protocol and a runnable preset")
    def registry_study(nct_id: NctId) -> dict[str, Any]:
        found = services.registry_study(settings, nct_id)
        if found is None:
            raise HTTPException(404, detail=f"nct_id: no study {nct_id} in the registry")
        return found

    return router
