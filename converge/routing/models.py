from __future__ import annotations

from django.db import models

from converge.conversations.models import Priority
from converge.core.models import TenantModel

# A practice's routing before anyone changes it: category -> (team slug, priority, minutes to answer).
DEFAULT_RULES = {
    "administrative": ("front-desk", Priority.NORMAL, 240),
    "scheduling": ("scheduling", Priority.NORMAL, 240),
    "refill": ("nursing", Priority.NORMAL, 24 * 60),
    "clinical": ("nursing", Priority.HIGH, 120),
    "urgent": ("nursing", Priority.URGENT, 15),
}


class RoutingRule(TenantModel):
    """Where a category of patient message goes, at what priority, answered within how long."""

    category = models.CharField(max_length=20)
    team = models.ForeignKey("practices.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.SmallIntegerField(default=1)  # conversations.Priority
    response_minutes = models.PositiveIntegerField(default=240)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practice", "category"], name="routing_rule_per_category")]


class AssignmentMode(models.TextChoices):
    MANUAL = "manual", "Staff claim conversations"
    ROUND_ROBIN = "round_robin", "Round robin among online members"
    LEAST_LOADED = "least_loaded", "Least loaded online member"


class TeamAssignment(TenantModel):
    team = models.OneToOneField("practices.Team", on_delete=models.CASCADE, related_name="assignment")
    mode = models.CharField(max_length=15, choices=AssignmentMode.choices, default=AssignmentMode.MANUAL)
    capacity = models.PositiveIntegerField(default=10)  # open conversations per person
    last_assigned = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class RoutingSettings(models.Model):
    practice = models.OneToOneField("practices.Practice", on_delete=models.CASCADE, related_name="routing")
    urgent_ack_minutes = models.PositiveIntegerField(default=5)
    on_call = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    on_call_channel = models.ForeignKey(
        "connectors.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who is paged, in order, about an urgent alert nobody acknowledges: [{"staff": id} or
    # {"phone": "+E.164"}, ...] (converge.routing.oncall). Empty: the single `on_call` above.
    on_call_list = models.JSONField(default=list, blank=True)
    safety_reply = models.BooleanField(default=True)
    # Numbers named in safety replies; US defaults, a practice elsewhere sets its own.
    emergency_number = models.CharField(max_length=30, default="911")
    crisis_line = models.CharField(max_length=30, default="988")
    poison_control = models.CharField(max_length=30, default="1-800-222-1222")
    after_hours_reply = models.BooleanField(default=True)


class UrgentAlert(TenantModel):
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("conversations.Message", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)  # the first on-call page
    escalation_error = models.CharField(max_length=300, blank=True)
    # On-call paging (converge.routing.oncall): pages queued so far, the latest one (a Message in
    # the outbox), and when the next person is paged unless someone acknowledges; None when
    # nothing is pending (acknowledged, stopped, or another alert of the conversation pages).
    page_step = models.PositiveSmallIntegerField(default=0)
    page_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_escalation_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], name="urgent_open_idx", condition=models.Q(acknowledged_at__isnull=True)
            ),
            models.Index(
                fields=["next_escalation_at"],
                name="urgent_escalation_due_idx",
                condition=models.Q(next_escalation_at__isnull=False),
            ),
        ]


class Correction(TenantModel):
    """A staff member re-categorised a message: kept as training data."""

    message = models.ForeignKey("conversations.Message", on_delete=models.CASCADE, related_name="+")
    old_category = models.CharField(max_length=20)
    new_category = models.CharField(max_length=20)
    staff = models.ForeignKey("practices.StaffMember", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
