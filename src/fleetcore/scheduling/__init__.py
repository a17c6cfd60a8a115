"""Shifts, maintenance schedules, goals and tasks (sch_)."""
