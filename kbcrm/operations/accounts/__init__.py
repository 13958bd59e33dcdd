"""Accounts and contacts: create with a duplicate check, update, archive, company groups."""
