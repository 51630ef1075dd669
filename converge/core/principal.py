"""Who is asking: a signed-in staff member or a practice API token. Every read and write is
scoped to `practice_id`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from converge.practices.models import ApiToken, StaffMember


@dataclass(frozen=True)
class Principal:
    practice_id: int
    staff: StaffMember | None = None
    token: ApiToken | None = None
    ip: str = ""

    @property
    def actor(self) -> Any:
        if self.staff is not None:
            return self.staff
        if self.token is not None:
            return f"token:{self.token.pk}"
        return None


def staff_principal(staff: StaffMember, ip: str = "") -> Principal:
    return Principal(practice_id=staff.practice_id, staff=staff, ip=ip)


def client_ip(request: Any) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
