"""Contact imports and exports through the API and the job runner: counts,
every kind of bad row, idempotent re-runs, 422s before a job starts, a job
resumed after its process died."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import update

from tests.conftest import RunningServer
from tests.integration.helpers import eventually
from textcast.audience import imports
from textcast.context import Context
from textcast.db.models import ContactImport, utcnow

CONTACTS_CSV = (
    "phone,external_id,first_name,plan,renewal_date,age:number,tags\n"
    "+14155552671,u1,Ada,gold,2026-03-01,36,vip;beta\n"
    "(415) 555-2672,u2,Grace,silver,2026-02-30,41,\n"  # a bad date
    "+442079460001,u3,Linus,gold,,29,vip\n"
    "+1 415 555 2671,u4,Dup,gold,,,\n"  # the number of line 2
    "not-a-number,u5,X,,,,\n"  # not a number
    "+33612345678,u6,Émile,platinum,2026-06-30,forty,\n"  # not a number
    "+33612345679,u7,Zoé,platinum,2026-06-30,52,\n"
)


async def start(
    server: RunningServer,
    http: aiohttp.ClientSession,
    content: str,
    *,
    filename: str = "contacts.csv",
    query: str = "",
    raw_type: str | None = None,
) -> tuple[int, Any]:
    url = f"{server.url}/api/v1/contacts/imports{query}"
    if raw_type is not None:
        headers = {**server.headers, "Content-Type": raw_type}
        async with http.post(url, data=content.encode(), headers=headers) as response:
            return response.status, await response.json()
    form = aiohttp.FormData()
    form.add_field("file", content.encode(), filename=filename, content_type="text/csv")
    async with http.post(url, data=form, headers=server.headers) as response:
        return response.status, await response.json()


async def finished(server: RunningServer, http: aiohttp.ClientSession, job_id: int) -> Any:
    async def check() -> Any:
        url = f"{server.url}/api/v1/contacts/imports/{job_id}"
        async with http.get(url, headers=server.headers) as response:
            job = await response.json()
        return job if job["status"] in ("done", "failed") else None

    return await eventually(check, timeout=30)


async def test_an_upload_is_imported_in_the_background_with_every_bad_row_reported(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    status, job = await start(server, http, CONTACTS_CSV, query="?tag=spring")
    assert status == 202, job
    assert job["status"] == "queued" and job["filename"] == "contacts.csv"
    done = await finished(server, http, job["id"])
    assert done["status"] == "done", done
    assert (done["rows"], done["created"], done["updated"], done["unchanged"]) == (7, 3, 0, 0)
    assert done["rejected"] == 4 and done["progress"] == 1.0
    assert [(e["line"], e["field"]) for e in done["errors"]] == [
        (3, "renewal_date"),
        (5, "phone"),
        (6, "phone"),
        (7, "age:number"),
    ]
    assert "duplicate in file" in done["errors"][1]["reason"]
    url = f"{server.url}/api/v1/contacts/+14155552671"
    async with http.get(url, headers=server.headers) as response:
        ada = await response.json()
    assert ada["attributes"] == {
        "first_name": "Ada",
        "plan": "gold",
        "renewal_date": "2026-03-01",
        "age": 36,
    }
    assert ada["tags"] == ["vip", "beta", "spring"]

    # The same file again changes nothing.
    _, again = await start(server, http, CONTACTS_CSV, query="?tag=spring")
    again = await finished(server, http, again["id"])
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (
        0,
        0,
        3,
        4,
    )
    # One changed value: one contact updated.
    changed = CONTACTS_CSV.replace("Linus,gold", "Linus,platinum")
    _, third = await start(server, http, changed, query="?tag=spring")
    third = await finished(server, http, third["id"])
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 1, 2)

    async with http.get(f"{server.url}/api/v1/contacts/imports", headers=server.headers) as r:
        listed = await r.json()
    assert [j["id"] for j in listed["imports"]] == [third["id"], again["id"], job["id"]]


async def test_numbers_and_external_ids_are_not_moved_between_contacts(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    _, first = await start(server, http, "phone,external_id\n+14155552671,u1\n+14155552672,\n")
    await finished(server, http, first["id"])
    csv = (
        "phone,external_id,plan\n+14155552671,u9,gold\n+14155552672,u1,gold\n+14155552673,u3,gold\n"
    )
    _, job = await start(server, http, csv)
    done = await finished(server, http, job["id"])
    assert (done["created"], done["rejected"]) == (1, 2)
    assert [(e["line"], e["reason"]) for e in done["errors"]] == [
        (2, "this number has another external_id"),
        (3, "this external_id is another number's"),
    ]


async def test_json_lines_import_as_the_body(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    lines = [
        {"phone": "+14155552671", "attributes": {"age": 36, "vip": True}, "tags": ["a"]},
        {"phone": "+14155552672", "external_id": "u2", "time_zone": "Europe/Paris"},
        {"phone": "+14155552673", "attributes": {"age": {"nested": 1}}},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    status, job = await start(server, http, body, raw_type="application/x-ndjson")
    assert status == 202, job
    done = await finished(server, http, job["id"])
    assert (done["format"], done["created"], done["rejected"]) == ("jsonl", 2, 1)
    assert done["errors"][0]["field"] == "attributes.age"


async def test_a_file_that_cannot_be_imported_is_a_422_at_once(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for content, query, field in [
        ("mobile,name\n+14155552671,Ada\n", "", "phone"),
        ("phone,First Name\n+14155552671,Ada\n", "", "column 2"),
        ("phone,plan\n+14155552671,gold\n", "?map=Plan%3Dplan", "map.Plan"),
        ("phone,plan\n+14155552671,gold\n", "?map=Plan", "map"),
        ("phone\n+14155552671\n", "?tag=", "tags"),
        ("", "", "file"),
    ]:
        status, body = await start(server, http, content, query=query)
        assert (status, body.get("field")) == (422, field), (content, query, body)
    status, body = await start(
        server, http, '{"phone": "+1"}\n', query="?map=a%3Db", raw_type="application/x-ndjson"
    )
    assert (status, body["field"]) == (422, "map")
    spool = server.ctx.settings.data_dir / "imports"
    assert not spool.exists() or list(spool.iterdir()) == []  # refused uploads are not kept


async def test_an_export_imports_back_unchanged(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    _, job = await start(server, http, CONTACTS_CSV)
    await finished(server, http, job["id"])
    async with http.get(
        f"{server.url}/api/v1/contacts/export?tag=vip", headers=server.headers
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        exported = await response.text()
    lines = exported.splitlines()
    assert lines[0].startswith("phone,external_id,time_zone,tags,age:number,first_name,plan")
    assert len(lines) == 3  # the two vip contacts
    _, again = await start(server, http, exported, filename="export.csv")
    again = await finished(server, http, again["id"])
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (
        0,
        0,
        2,
        0,
    )


async def test_a_job_whose_process_died_is_taken_over_and_resumed(
    ctx: Context, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("phone,plan\n+14155552671,gold\n+14155552672,gold\n+14155552673,gold\n")
    opts = imports.options({}, [], "US")
    async with ctx.write_session() as session:
        job = await imports.create(
            session, path=path, filename="c.csv", fmt="csv", opts=opts, delete_file=False,
            owner="dead-process",
        )  # fmt: skip
    # The dead process had committed its first record, then stopped renewing.
    async with ctx.write_session() as session:
        await session.execute(
            update(ContactImport)
            .where(ContactImport.id == job.id)
            .values(rows=1, created=1, lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await imports.claim(ctx, "me") == job.id
    assert await imports.claim(ctx, "someone-else") is None
    final = await imports.run(ctx, job.id, "me")
    assert (final.status, final.rows, final.created) == ("done", 3, 3)
    assert final.finished_at is not None and final.lease_owner is None
