"""Plumbing shared by the billing-link services: event models, Kafka, outbox/inbox, HTTP helpers.

Small and boring on purpose: no service logic lives here.
"""
