"""Ledger accounts and transactions, driver payouts, tolls and fines (fin_)."""
