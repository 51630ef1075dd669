from __future__ import annotations

from django.db import models


class TenantModel(models.Model):
    """A row that belongs to one practice. Every selector and service filters by `practice`."""

    practice = models.ForeignKey("practices.Practice", on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class PeriodicJobState(models.Model):
    """When each registered periodic job runs next, and which worker runs it now. A worker claims
    a due job with one conditional UPDATE (the next_run_at it read, no one running it), so with
    several workers a job runs once per interval and never twice at once; a dead worker's
    `running_by` is cleared by the others' heartbeat (core.heartbeat)."""

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    running_by = models.CharField(max_length=100, blank=True)  # a WorkerHeartbeat.worker_id


class WorkerHeartbeat(models.Model):
    """A running worker, beating every WORKER_HEARTBEAT_SECONDS. A worker whose beat is older
    than WORKER_STALE_SECONDS is dead: any live worker releases the rows it had claimed
    (`leased_by`), and /readyz answers 503 when no worker is alive."""

    worker_id = models.CharField(max_length=100, unique=True)  # host:pid:uuid
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    lanes = models.CharField(max_length=100, blank=True)  # comma-separated: inbound,outbox,jobs

    def __str__(self) -> str:
        return f"worker:{self.worker_id}"
