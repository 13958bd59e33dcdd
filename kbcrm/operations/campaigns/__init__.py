"""Campaigns: target lists from segments or rules, consent respected, control groups, responses, results."""
