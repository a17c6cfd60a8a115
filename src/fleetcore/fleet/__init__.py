"""Vehicles and their assignments, events, maintenance, expenses, insurances, odometer (flt_)."""
