"""A FAKE OpenAI Batch API for tests (the paid API cannot run here): files and batches over real HTTP,
served by a real uvicorn on a free port of 127.0.0.1, in a background thread.

It implements what a batch client uses: `POST /v1/files` (multipart upload), `GET /v1/files/{id}` and
`/v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches` (newest first, cursor pages),
`GET /v1/batches/{id}` and `POST /v1/batches/{id}/cancel`. Every line of a batch is answered with the
same deterministic text the stub server (`tests.openai_stub_server`) gives for `/v1/completions` and
`/v1/chat/completions`. A batch reports `in_progress` for `polls_to_complete` status checks, then ends as
its `BatchPlan` says: lines failed into the error file, lines answered non-200 in the output, lines
missing or not JSON, expired with part done, cancelled as if from the dashboard, or failed validation.
Unknown models fail the batch at creation (or, with `unknown_model="lines"`, each line with a 404); a
wrong key is a 401 on every route. It counts the uploads and batches it was asked for, so tests can prove
that nothing was submitted twice.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from tests.openai_stub_server import ThreadedApp, chat_response, completion_response

ENDPOINTS = ("/v1/completions", "/v1/chat/completions")


@dataclass
class BatchPlan:
    """How the fake ends one batch (plans are taken in order of batch creation; none: all lines answered).
    Line counts apply to the first lines of the input file."""

    fail: int = 0  # lines written to the error file with `fail_status`
    fail_status: int = 500
    non_200: int = 0  # lines (after the failed ones) answered in the output file with status 500
    malformed: int = 0  # lines (after those) whose output line is not JSON
    drop: int = 0  # lines (after those) in neither file
    expire_after: int | None = None  # expire with this many lines answered; the rest `batch_expired`
    cancel_after_polls: int | None = None  # cancelled by someone else at this status check, none answered
    fail_code: str | None = None  # fail the batch's validation with this error code


@dataclass
class FakeBatchState:
    """What the fake does next and what it has seen; tests change it between (or during) runs."""

    #: status checks answered `in_progress` before a batch ends (read at every check, so a test can change it)
    polls_to_complete: int = 1
    plans: deque[BatchPlan] = field(default_factory=deque)
    #: models it has; None: every model
    known_models: set[str] | None = None
    unknown_model: Literal["fail", "lines"] = "fail"
    #: the key every request must carry (`Authorization: Bearer ...`); None: any or none
    api_key: str | None = None
    max_requests: int = 50_000
    max_bytes: int = 200_000_000
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: batch ids in order of creation, and the custom_ids each was created with
    created: list[str] = field(default_factory=list)
    custom_ids: dict[str, list[str]] = field(default_factory=dict)
    uploads: int = 0
    retrieves: int = 0
    log: list[str] = field(default_factory=list)
    stopping: bool = False
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self.ids):05d}"

    def reset(self) -> None:
        """Forget everything (files, batches, counts) and answer normally again."""
        fresh = FakeBatchState()
        for name in self.__dataclass_fields__:
            if name != "ids":
                setattr(self, name, getattr(fresh, name))


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}},
        status_code=status,
    )


def _line(cid: Any, status: int | None, body: Any = None, error: Any = None) -> str:
    response = None if status is None else {"status_code": status, "request_id": f"req-{cid}", "body": body}
    return json.dumps({"id": f"batch_req_{cid}", "custom_id": cid, "response": response, "error": error})


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The stub's answer to one batch request line."""
    if request.get("url") == "/v1/chat/completions":
        return chat_response(request["body"], f"chat-{request['custom_id']}")
    return completion_response(request["body"], f"cmpl-{request['custom_id']}")


def make_app(state: FakeBatchState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Any:
        state.log.append(f"{request.method} {request.url.path}")
        if state.api_key is not None and request.headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        return await call_next(request)

    @app.post("/v1/files")
    async def upload(file: UploadFile = File(...), purpose: str = Form(...)) -> Any:
        data = await file.read()
        state.uploads += 1
        fid = state.new_id("file")
        state.files[fid] = {"bytes": data, "purpose": purpose, "filename": file.filename}
        return _file_object(fid, state.files[fid])

    @app.get("/v1/files/{file_id}")
    async def file_info(file_id: str) -> Any:
        if file_id not in state.files:
            return _error(404, f"No such File object: {file_id}")
        return _file_object(file_id, state.files[file_id])

    @app.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str) -> Any:
        if file_id not in state.files:
            return _error(404, f"No such File object: {file_id}")
        return Response(content=state.files[file_id]["bytes"], media_type="application/octet-stream")

    @app.post("/v1/batches")
    async def create(request: Request) -> Any:
        params = await request.json()
        fid, endpoint = params.get("input_file_id"), params.get("endpoint")
        if fid not in state.files:
            return _error(404, f"No such File object: {fid}")
        if endpoint not in ENDPOINTS:
            return _error(400, f"Invalid endpoint {endpoint!r}")
        if params.get("completion_window") != "24h":
            return _error(400, "completion_window must be 24h")
        bid = state.new_id("batch")
        now = int(time.time())
        batch: dict[str, Any] = {
            "id": bid,
            "object": "batch",
            "endpoint": endpoint,
            "errors": None,
            "input_file_id": fid,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "expires_at": now + 86400,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": params.get("metadata"),
        }
        plan = state.plans.popleft() if state.plans else BatchPlan()
        lines, errors = _validate(state, state.files[fid], endpoint, plan)
        batch["request_counts"]["total"] = len(lines)
        state.batches[bid] = {"batch": batch, "plan": plan, "lines": lines, "polls": 0}
        state.created.append(bid)
        state.custom_ids[bid] = [str(r.get("custom_id")) for r in lines]
        if errors:
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
        return batch

    @app.get("/v1/batches")
    async def list_batches(limit: int = 20, after: str | None = None) -> Any:
        ids = list(reversed(state.created))
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        page = ids[:limit]
        data = [state.batches[b]["batch"] for b in page]
        return {
            "object": "list",
            "data": data,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
            "has_more": len(ids) > len(page),
        }

    @app.get("/v1/batches/{batch_id}")
    async def retrieve(batch_id: str) -> Any:
        entry = state.batches.get(batch_id)
        if entry is None:
            return _error(404, f"No batch found with id '{batch_id}'.")
        state.retrieves += 1
        batch = entry["batch"]
        if batch["status"] in ("validating", "in_progress", "finalizing", "cancelling"):
            entry["polls"] += 1
            plan: BatchPlan = entry["plan"]
            if plan.cancel_after_polls is not None and entry["polls"] >= plan.cancel_after_polls:
                _finish(state, entry, "cancelled", done=0)
            elif entry["polls"] > state.polls_to_complete:
                if plan.expire_after is not None:
                    _finish(state, entry, "expired", done=plan.expire_after)
                else:
                    _finish(state, entry, "completed", done=len(entry["lines"]))
            else:
                batch["status"] = "in_progress"
        return batch

    @app.post("/v1/batches/{batch_id}/cancel")
    async def cancel(batch_id: str) -> Any:
        entry = state.batches.get(batch_id)
        if entry is None:
            return _error(404, f"No batch found with id '{batch_id}'.")
        if entry["batch"]["status"] in ("validating", "in_progress", "finalizing"):
            _finish(state, entry, "cancelled", done=0)
        return entry["batch"]

    return app


def _file_object(fid: str, f: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": fid,
        "object": "file",
        "bytes": len(f["bytes"]),
        "created_at": int(time.time()),
        "filename": f["filename"],
        "purpose": f["purpose"],
        "status": "processed",
    }


def _validate(
    state: FakeBatchState, f: dict[str, Any], endpoint: str, plan: BatchPlan
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The request lines of an input file, and the validation errors that fail its batch (none: it runs)."""
    errors: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    if f["purpose"] != "batch":
        errors.append({"code": "invalid_file", "message": "The file's purpose must be 'batch'.", "line": None})
    if len(f["bytes"]) > state.max_bytes:
        errors.append({"code": "file_too_large", "message": f"over {state.max_bytes} bytes", "line": None})
    seen: set[str] = set()
    for number, raw in enumerate(f["bytes"].decode("utf-8").splitlines(), 1):
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            errors.append({"code": "invalid_json_line", "message": "not JSON", "line": number})
            continue
        cid = row.get("custom_id")
        if not isinstance(cid, str) or cid in seen:
            errors.append({"code": "duplicate_custom_id", "message": f"custom_id {cid!r}", "line": number})
        seen.add(str(cid))
        if row.get("method") != "POST" or row.get("url") != endpoint:
            errors.append(
                {"code": "invalid_url", "message": "each line must POST the batch's endpoint", "line": number}
            )
        model = (row.get("body") or {}).get("model")
        if state.known_models is not None and model not in state.known_models and state.unknown_model == "fail":
            errors.append(
                {"code": "model_not_found", "message": f"The model '{model}' does not exist.", "line": number}
            )
        lines.append(row)
    if len(lines) > state.max_requests:
        errors.append({"code": "too_many_requests", "message": f"over {state.max_requests} requests", "line": None})
    if plan.fail_code:
        errors.append({"code": plan.fail_code, "message": "refused by the test's plan", "line": 1})
    return lines, errors[:10]


def _finish(state: FakeBatchState, entry: dict[str, Any], status: str, done: int) -> None:
    """End a batch: answer its first `done` lines as its plan says, the rest expired or cancelled."""
    batch, plan, lines = entry["batch"], entry["plan"], entry["lines"]
    out: list[str] = []
    err: list[str] = []
    completed = failed = 0
    fail_end = plan.fail
    non_200_end = fail_end + plan.non_200
    malformed_end = non_200_end + plan.malformed
    drop_end = malformed_end + plan.drop
    for i, row in enumerate(lines):
        cid = row.get("custom_id")
        model = (row.get("body") or {}).get("model")
        if i >= done:
            code = "batch_expired" if status == "expired" else "batch_cancelled"
            err.append(_line(cid, None, error={"code": code, "message": f"This request was not run ({status})."}))
            failed += 1
        elif state.known_models is not None and model not in state.known_models:
            body = {"error": {"message": f"The model '{model}' does not exist", "code": "model_not_found"}}
            err.append(_line(cid, 404, body))
            failed += 1
        elif i < fail_end:
            err.append(_line(cid, plan.fail_status, {"error": {"message": "fake failure", "code": "server_error"}}))
            failed += 1
        elif i < non_200_end:
            out.append(_line(cid, 500, {"error": {"message": "fake error in the output", "code": "server_error"}}))
            failed += 1
        elif i < malformed_end:
            out.append('{"id": "batch_req_x", "custom_id": "' + str(cid) + '", "response": {"status_')
        elif i < drop_end:
            continue
        else:
            out.append(_line(cid, 200, answer(row)))
            completed += 1
    now = int(time.time())
    for kind, rows in (("output", out), ("error", err)):
        if rows:
            fid = state.new_id("file")
            state.files[fid] = {
                "bytes": ("\n".join(rows) + "\n").encode(),
                "purpose": "batch_output",
                "filename": f"{batch['id']}_{kind}.jsonl",
            }
            batch[f"{kind}_file_id"] = fid
    batch["status"] = status
    batch[f"{status}_at"] = now
    batch["request_counts"] = {"total": len(lines), "completed": completed, "failed": failed}


class FakeBatchServer(ThreadedApp):
    """Runs the fake in a real uvicorn on 127.0.0.1 (a free port, or `port` to come back on the same one)."""

    what = "fake Batch API server"

    def __init__(self, state: FakeBatchState | None = None, port: int = 0) -> None:
        self.state: FakeBatchState = state or FakeBatchState()
        super().__init__(make_app(self.state), self.state, port=port, name="openai-batch-fake")
