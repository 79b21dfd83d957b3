"""The files of the OpenAI Batch API: request lines in, answer and error lines out.

An input file holds one request a line, `{"custom_id", "method": "POST", "url", "body"}`, and is split
to stay within the API's limits on requests and bytes per file. An output file answers a request a line,
`{"custom_id", "response": {"status_code", "body"}, "error"}`; the error file holds the lines that failed
(a non-200 response, or `response: null` with an error such as `batch_expired`). Reading them maps each
line back to its request: answered, failed (and whether another batch could help), or unreadable.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from skd.models.teacher import TeacherSample, truncate_at_stop

__all__ = ["Answer", "Failure", "Results", "input_files", "request_line", "samples_from_body"]

#: line statuses that another try cannot fix (a bad request, a refused key, an unknown model)
FINAL_STATUSES = frozenset({400, 401, 403, 404, 422})


@dataclass(frozen=True, slots=True)
class Answer:
    samples: list[TeacherSample]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str
    retry: bool  # False: the API refused the request itself, another batch would fail it again


@dataclass(slots=True)
class Results:
    """What the output and error files of one batch said about its requests."""

    answers: dict[str, Answer] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # lines that could not be read or matched

    def missing(self, ids: Iterable[str], status: str) -> None:
        """Mark the requests the files said nothing about (dropped, or on an unreadable line) as failed."""
        for cid in ids:
            if cid not in self.answers and cid not in self.failures:
                why = f"{status}, not in its output" + (f"; {self.notes[0]}" if self.notes else "")
                self.failures[cid] = Failure(why, True)


def request_line(custom_id: str, url: str, body: dict[str, Any]) -> bytes:
    """One line of an input file."""
    row = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def input_files(
    lines: Iterable[tuple[str, bytes]], max_requests: int, max_bytes: int
) -> Iterator[tuple[list[str], bytes]]:
    """(custom_ids, file content) for each input file, in order, each within both limits, made as they are
    asked for: a caller that uploads each file before asking for the next holds one file at a time, not
    every line and every file at once (three copies of all its requests). A single line larger than
    `max_bytes` raises ValueError when its file is reached."""
    ids: list[str] = []
    content = io.BytesIO()  # each line copied in once and let go: not all lines and then their join
    for cid, data in lines:
        if len(data) > max_bytes:
            raise ValueError(f"one request is {len(data)} bytes, over the batch file limit of {max_bytes}")
        if ids and (len(ids) >= max_requests or content.tell() + len(data) > max_bytes):
            done, file = ids, content.getvalue()
            ids, content = [], io.BytesIO()
            yield done, file
            del file
        ids.append(cid)
        content.write(data)
    if ids:
        yield ids, content.getvalue()


def _failure(status: object, error: object) -> Failure:
    """A failed line: why (its status or error code and the server's message), and whether to try again."""
    err = error if isinstance(error, dict) else {}
    code = err.get("code") or err.get("type") or "error"
    where = f"{status}" if status is not None else str(code)
    retry = not (isinstance(status, int) and status in FINAL_STATUSES)
    return Failure(f"{where}: {err.get('message') or 'no message'}", retry)


def read_results(text: str, label: str, ids: set[str], mode: str, stop: Sequence[str], into: Results) -> None:
    """Read an output or error file (`label` names it in notes) of a batch holding `ids` into `into`; an
    answer wins over a failure of the same request."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            into.notes.append(f"line {number} of {label} is not JSON")
            continue
        cid = row.get("custom_id") if isinstance(row, dict) else None
        if not isinstance(cid, str) or cid not in ids:
            into.notes.append(f"line {number} of {label} names no request of this batch")
            continue
        raw = row.get("response")
        response: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status, body = response.get("status_code"), response.get("body")
        if status == 200 and not row.get("error"):
            try:
                samples, p_tok, c_tok = samples_from_body(body, mode, stop)
            except ValueError as e:
                if cid not in into.answers:
                    into.failures[cid] = Failure(f"malformed answer on line {number} of {label} ({e})", True)
                continue
            into.answers[cid] = Answer(samples, p_tok, c_tok)
            into.failures.pop(cid, None)
        elif cid not in into.answers:
            error = row.get("error") or (body.get("error") if isinstance(body, dict) else None)
            into.failures[cid] = _failure(status, error)


def samples_from_body(body: object, mode: str, stop: Sequence[str]) -> tuple[list[TeacherSample], int, int]:
    """The samples of one completion response body (a dict) with its prompt and completion tokens: the
    samples `OpenAITeacher` makes of the same answer. Raises ValueError on a body it cannot read."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise ValueError("a response body without choices")
    if not all(isinstance(c, dict) for c in body["choices"]):
        raise ValueError("a choice that is not an object")
    choices = sorted(body["choices"], key=lambda c: c.get("index") or 0)
    raw = body.get("usage")
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    p_tok, c_tok = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    share, rest = divmod(c_tok, max(1, len(choices)))
    out = []
    for i, ch in enumerate(choices):
        message = ch.get("message")
        text = (message.get("content") if isinstance(message, dict) else None) if mode == "chat" else ch.get("text")
        if text is not None and not isinstance(text, str):
            raise ValueError("a choice whose text is not a string")
        out.append(
            TeacherSample(
                text=truncate_at_stop(text or "", stop),
                logprob=_logprob(ch.get("logprobs"), mode),
                prompt_tokens=p_tok if i == 0 else 0,
                completion_tokens=share + (rest if i == 0 else 0),
            )
        )
    return out, p_tok, c_tok


def _logprob(lp: object, mode: str) -> float | None:
    """The sum of the sampled tokens' log-probabilities, as `OpenAITeacher` reports it."""
    if not isinstance(lp, dict):
        return None
    if mode == "chat":
        content = lp.get("content")
        values = [t.get("logprob") for t in content if isinstance(t, dict)] if isinstance(content, list) else []
    else:
        values = list(lp.get("token_logprobs") or [])
    # a tuple, not `int | float`, which is built anew at every test (this runs for each token of each answer)
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return float(sum(numbers)) if numbers else None
