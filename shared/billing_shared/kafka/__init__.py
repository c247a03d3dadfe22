"""Kafka: safe client factories, topic names and creation, the consumer runner."""
