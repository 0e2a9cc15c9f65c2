"""`timerTrigger`: an NCRONTAB expression or a TimeSpan schedule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from durable_ext.bindings.props import optional_bool, prop, required_string
from durable_ext.bindings.registry import BindingType, Problem, register

TIMER_TRIGGER = "timerTrigger"

_TIMESPAN = re.compile(r"^(\d+\.)?\d{1,2}:\d{2}(:\d{2})?$")
_APP_SETTING = re.compile(r"^%[^%]+%$")


def validate(binding: Mapping[str, Any]) -> list[str]:
    problems = required_string(binding, "schedule", "0 */5 * * * *")
    schedule = prop(binding, "schedule")
    if not problems and not _looks_like_schedule(schedule.strip()):
        problems.append(
            Problem(
                "schedule",
                f"{schedule!r} is neither an NCRONTAB expression nor a TimeSpan",
                'use six fields "{second} {minute} {hour} {day} {month} {day-of-week}", e.g. "0 */5 * * * *"',
            )
        )
    return problems + optional_bool(binding, "runOnStartup") + optional_bool(binding, "useMonitor")


def _looks_like_schedule(schedule: str) -> bool:
    # Full parsing belongs to whoever runs the timer; here we only catch obvious typos.
    return bool(_APP_SETTING.match(schedule) or _TIMESPAN.match(schedule) or len(schedule.split()) in (5, 6))


TIMER_TRIGGER_TYPE = register(
    BindingType(TIMER_TRIGGER, is_trigger=True, allowed_directions=frozenset({"in"}), validate=validate)
)
