"""Retention: older than BACKUP_KEEP_DAYS goes, the newest BACKUP_KEEP_MIN good ones stay,
the last good backup is never deleted."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st

from blog.backups import service
from blog.backups.service import plan_retention
from blog.backups.targets import BackupInfo, LocalTarget, S3Target, backup_name

NOW = datetime(2025, 6, 30, 3, 0, tzinfo=UTC)


def fake(days_ago: float, good: bool = True) -> BackupInfo:
    when = NOW - timedelta(days=days_ago)
    return BackupInfo(backup_name(when), when, 100, "a" * 64 if good else None)


def test_old_backups_go_but_the_newest_good_ones_stay():
    backups = [fake(d) for d in range(1, 46)]
    doomed = {b.key for b in plan_retention(backups, NOW, keep_days=30, keep_min=7)}
    assert doomed == {fake(d).key for d in range(31, 46)}


def test_the_last_good_backup_survives_however_old():
    # Every run for 60 days failed the same way (no checksum): the last good one is old.
    backups = [fake(d, good=False) for d in range(1, 40)] + [fake(50), fake(55)]
    doomed = {b.key for b in plan_retention(backups, NOW, keep_days=30, keep_min=1)}
    assert fake(50).key not in doomed
    assert fake(55).key in doomed and fake(35, good=False).key in doomed
    assert fake(10, good=False).key not in doomed  # young: kept, good or not
    assert plan_retention([fake(400)], NOW, keep_days=1, keep_min=0) == []


@settings(max_examples=300, deadline=None)
@given(
    ages=st.lists(st.tuples(st.floats(0, 400), st.booleans()), max_size=40),
    keep_days=st.integers(1, 60),
    keep_min=st.integers(0, 10),
)
def test_retention_rules_hold_for_any_history(ages, keep_days, keep_min):
    backups = list({b.key: b for b in (fake(a, g) for a, g in ages)}.values())
    doomed = plan_retention(backups, NOW, keep_days, keep_min)
    doomed_keys = {b.key for b in doomed}
    good = sorted((b for b in backups if b.good), key=lambda b: b.created_at, reverse=True)
    if good:
        assert good[0].key not in doomed_keys  # never the last good one
    kept_good = [b for b in good if b.key not in doomed_keys]
    assert len(kept_good) >= min(max(keep_min, 1), len(good))
    cutoff = NOW - timedelta(days=keep_days)
    assert all(b.created_at < cutoff for b in doomed)  # nothing young is deleted


def _put_fake(s3, bucket: str, days_ago: float, good: bool = True) -> str:
    """An old backup object: good ones carry their SHA-256 in a sidecar object, or (as
    earlier versions wrote them, on even days here) in their metadata."""
    key = f"backups/{backup_name(datetime.now(UTC) - timedelta(days=days_ago))}"
    body = b"an old backup"
    sha = hashlib.sha256(body).hexdigest()
    in_metadata = good and int(days_ago) % 2 == 0
    s3.put_object(
        Bucket=bucket, Key=key, Body=body, Metadata={"sha256": sha} if in_metadata else {}
    )
    if good and not in_metadata:
        s3.put_object(Bucket=bucket, Key=key + ".sha256", Body=f"{sha}  x\n".encode())
    return key


def test_s3_retention_after_a_good_backup(app, data, s3_endpoint, s3_bucket):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    ages = [d + 0.5 for d in range(1, 41)]
    keys = {age: _put_fake(s3, s3_bucket, age, good=age != 2.5) for age in ages}
    s3.put_object(Bucket=s3_bucket, Key="backups/notes.txt", Body=b"not a backup")
    target = S3Target(s3_bucket, client=s3)
    assert {b.key for b in target.list(with_checksums=True) if not b.good} == {keys[2.5]}
    outcome = service.run_backup(data, app.extensions["media_storage"], target, app.config)
    assert sorted(outcome["deleted"]) == sorted(keys[a] for a in ages if a > 30)
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    kept = [a for a in ages if a < 30]
    sidecars = {keys[a] + ".sha256" for a in kept if int(a) % 2 == 1}
    new = {outcome["key"], outcome["key"] + ".sha256"}
    # The old ones went with their sidecars.
    assert left == new | {keys[a] for a in kept} | sidecars | {"backups/notes.txt"}
    assert data.backups.last_good()["deleted"] == outcome["deleted"]


def test_few_backups_are_all_kept_even_when_old(app, data, tmp_path):
    app.config.update(BACKUP_KEEP_DAYS=1, BACKUP_KEEP_MIN=3)
    target = LocalTarget(tmp_path / "b")
    for days_ago in (40, 50, 60):
        when = datetime.now(UTC) - timedelta(days=days_ago)
        path = tmp_path / "b" / backup_name(when)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"old")
        path.with_name(path.name + ".sha256").write_text("b" * 64 + f"  {path.name}\n")
    outcome = service.run_backup(data, app.extensions["media_storage"], target, app.config)
    # keep_min=3: the new one and the two newest old ones stay; the 60-day one goes.
    assert len(outcome["deleted"]) == 1 and "blog-" in outcome["deleted"][0]
    assert len(target.list()) == 3
    assert len(list((tmp_path / "b").rglob("*.sha256"))) == 3  # sidecars go with them
