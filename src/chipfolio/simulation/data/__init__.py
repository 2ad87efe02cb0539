"""Shipped simulation data: per-minute request-rate profiles derived from the Azure LLM trace."""
